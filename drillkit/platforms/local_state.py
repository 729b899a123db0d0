"""The local platform's state file and lock.

``<state_dir>/<env>/state.json`` is written after every process ``up`` starts, so that
``drillkit down`` can end exactly those processes even when ``up`` itself was killed half
way. The lock (``flock`` on ``<state_dir>/<env>/lock``) makes ``up`` / ``down`` of one
environment mutually exclusive across processes.

The folder is private (``drillkit.private``: 0700, owned by the user, files 0600, no links
followed), and what can be derived from it is never read back: a node's workspace, which
is removed after the node ends, is ``<state>/workspace/<node>``, not a path from the file.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, ValidationError

from drillkit.errors import AlreadyUpError, SpecError
from drillkit.model.repository import RECOMMENDER_MODELS
from drillkit.private import open_private, private_dir, read_private, write_private
from drillkit.safepath import PathName
from drillkit.spec.names import RegionName
from drillkit.supervise import Process
from drillkit.try_timeout import TryTimeouts


class Phase(StrEnum):
    STARTING = "starting"
    UP = "up"


class NodeRecord(BaseModel):
    """A started Triton node: its ports and its process."""

    name: PathName  # it names the node's workspace folder: one plain folder name
    region: RegionName
    http_port: int
    grpc_port: int
    metrics_port: int
    process: Process
    proxy_port: int | None = None  # the fault proxy's listen port in front of it
    version: PathName | None = None  # the model version it serves (None: the environment's, as `up` started it)


class LocalState(BaseModel):
    """Everything ``up`` started, as recorded on disk."""

    environment: str
    spec_file: str | None
    phase: Phase = Phase.STARTING
    started_at: float
    owner_pid: int
    model_version: str
    models: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")], ...] = Field(
        RECOMMENDER_MODELS, max_length=1000)  # what every node serves: readiness waits for each
    nodes: list[NodeRecord] = []
    netfault: Process | None = None
    netfault_port: int | None = None
    haproxy: Process | None = None
    gateway_port: int | None = None
    stats_port: int | None = None
    haproxy_socket: Path | None = None
    try_timeouts: TryTimeouts | None = None  # the gateway's per-try timeouts, as `up` set them
    receiver: Process | None = None  # drillkit's webhook receiver (environment `alerting:`)
    receiver_port: int | None = None
    alertmanager: Process | None = None
    alertmanager_port: int | None = None
    prometheus: Process | None = None
    prometheus_port: int | None = None
    hogs: dict[str, Process] = {}  # resource hogs started by GPU-pressure faults
    backup: Process | None = None  # the scheduled-backup child (environment spec `backup.every`)
    verifiers: dict[str, Process] = {}  # throwaway nodes that check a restored repository


    def processes(self) -> list[Process]:
        """Every recorded process, in start order."""
        rest = [self.netfault, self.haproxy, self.receiver, self.alertmanager, self.prometheus, self.backup]
        return ([n.process for n in self.nodes] + [p for p in rest if p is not None] + list(self.hogs.values())
                + list(self.verifiers.values()))  # fmt: skip

    def version_of(self, record: NodeRecord) -> str:
        """The model version a node serves (a rollout moves nodes one by one)."""
        return record.version or self.model_version

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


def workspace_of(root: Path, node: str) -> Path:
    """PyTriton's workspace of ``node`` (removed after the node ends): derived, never read back."""
    return root / "workspace" / node


def load_state(path: Path) -> LocalState | None:
    """The recorded state, or None when nothing was started; SpecError when it is damaged."""
    data = read_private(path)
    if data is None:
        return None
    try:
        return LocalState.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(state)"
        raise SpecError(str(path), field, first["msg"], "end what runs by hand (see the logs folder beside it), "
                        "then remove the file") from None  # fmt: skip


def save_state(path: Path, state: LocalState) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    private_dir(path.parent)
    write_private(path, state.model_dump_json(indent=2).encode())


@contextmanager
def exclusive(lock_path: Path, environment: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the environment's lock; another holder means another up/down runs right now.

    ``wait_s``: how long to wait for it first (a scaling and a rollback that scales back may
    meet in one drill: the second waits for the first instead of failing)."""
    private_dir(lock_path.parent)
    with os.fdopen(open_private(lock_path, os.O_WRONLY | os.O_CREAT), "w") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AlreadyUpError(
                        f"environment {environment!r} is busy: another `drillkit up` or `down` holds {lock_path}"
                    ) from None
                time.sleep(0.05)
        yield
