"""The local platform's state file and lock.

``<state_dir>/<env>/state.json`` is written after every process ``up`` starts, so that
``drillkit down`` can end exactly those processes even when ``up`` itself was killed half
way. The lock (``flock`` on ``<state_dir>/<env>/lock``) makes ``up`` / ``down`` of one
environment mutually exclusive across processes.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from drillkit.errors import AlreadyUpError
from drillkit.supervise import Process


class Phase(StrEnum):
    STARTING = "starting"
    UP = "up"


class NodeRecord(BaseModel):
    """A started Triton node: its ports and its process."""

    name: str
    region: str
    http_port: int
    grpc_port: int
    metrics_port: int
    repository: Path
    workspace: Path  # PyTriton's workspace; removed after the node ends
    process: Process
    proxy_port: int | None = None  # the fault proxy's listen port in front of it


class LocalState(BaseModel):
    """Everything ``up`` started, as recorded on disk."""

    environment: str
    spec_file: str | None
    phase: Phase = Phase.STARTING
    started_at: float
    owner_pid: int
    model_version: str
    nodes: list[NodeRecord] = []
    netfault: Process | None = None
    netfault_port: int | None = None
    haproxy: Process | None = None
    gateway_port: int | None = None
    stats_port: int | None = None
    haproxy_socket: Path | None = None
    prometheus: Process | None = None
    prometheus_port: int | None = None
    hogs: dict[str, Process] = {}  # resource hogs started by GPU-pressure faults
    backup: Process | None = None  # the scheduled-backup child (environment spec `backup.every`)
    verifiers: dict[str, Process] = {}  # throwaway nodes that check a restored repository


    def processes(self) -> list[Process]:
        """Every recorded process, in start order."""
        rest = [self.netfault, self.haproxy, self.prometheus, self.backup]
        return ([n.process for n in self.nodes] + [p for p in rest if p is not None] + list(self.hogs.values())
                + list(self.verifiers.values()))  # fmt: skip

    def node(self, name: str) -> NodeRecord:
        """The node called ``name``; KeyError lists the known names."""
        for record in self.nodes:
            if record.name == name:
                return record
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    @property
    def gateway_url(self) -> str | None:
        return f"http://127.0.0.1:{self.gateway_port}" if self.gateway_port else None

    @property
    def netfault_url(self) -> str | None:
        return f"http://127.0.0.1:{self.netfault_port}" if self.netfault_port else None


def new_state(environment: str, spec_file: str | None, model_version: str) -> LocalState:
    return LocalState(
        environment=environment,
        spec_file=spec_file,
        started_at=time.time(),
        owner_pid=os.getpid(),
        model_version=model_version,
    )


def load_state(path: Path) -> LocalState | None:
    """The recorded state, or None when nothing was started."""
    try:
        return LocalState.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def save_state(path: Path, state: LocalState) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(path)


@contextmanager
def exclusive(lock_path: Path, environment: str) -> Iterator[None]:
    """Hold the environment's lock; another holder means another up/down runs right now."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyUpError(
                f"environment {environment!r} is busy: another `drillkit up` or `down` holds {lock_path}"
            ) from None
        yield
