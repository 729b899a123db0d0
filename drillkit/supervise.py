"""Start, watch and end the child processes of an environment.

Every child runs in a session of its own (``setsid``), so it outlives the CLI command that
started it and a whole component (Triton node, its tritonserver and backend stubs) is one
process group. A ``Process`` record holds the PID *and* the kernel's start time of that PID,
so a later ``drillkit down`` never signals an unrelated process that reused the number.

>>> proc = spawn("sleeper", ["sleep", "60"], log_path=Path("/tmp/sleeper.log"))  # doctest: +SKIP
>>> alive(proc)                                                               # doctest: +SKIP
True
>>> terminate([proc])                                                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Process(BaseModel):
    """A started child: enough to find it again (and only it) from another process."""

    model_config = ConfigDict(frozen=True)

    name: str
    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: guards against PID reuse
    command: tuple[str, ...]
    log: Path


def spawn(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Process:
    """Start ``command`` detached in its own session, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    return Process(name=name, pid=child.pid, start_ticks=_start_ticks(child.pid) or 0, command=tuple(command), log=log_path)


def alive(proc: Process) -> bool:
    """True while the recorded process runs (not a zombie, not a reused PID)."""
    _reap(proc.pid)
    stat = _stat(proc.pid)
    return stat is not None and stat[0] != "Z" and int(stat[19]) == proc.start_ticks


def group_pids(proc: Process) -> list[int]:
    """Live PIDs in the process group the child leads (itself and what it started)."""
    if not _same_leader(proc):
        return _orphans_of_group(proc.pid)
    return _pids_in_group(proc.pid)


def terminate(procs: Sequence[Process], *, grace_s: float = 10.0) -> None:
    """End whole process groups: SIGTERM to all at once, SIGKILL what is left after ``grace_s``."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
        _signal_group(proc, signal.SIGCONT)  # a paused (hung) node cannot act on SIGTERM
    deadline = time.monotonic() + grace_s
    while any(group_pids(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        if group_pids(proc):
            kill(proc)


def paused(proc: Process) -> bool:
    """True when the child is stopped by SIGSTOP (state T)."""
    stat = _stat(proc.pid)
    return stat is not None and stat[0] == "T" and int(stat[19]) == proc.start_ticks


def kill(proc: Process) -> None:
    """SIGKILL the whole process group at once (a node crash), then wait until it is gone."""
    _signal_group(proc, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while group_pids(proc) and time.monotonic() < deadline:
        time.sleep(0.02)


def send(proc: Process, sig: signal.Signals) -> None:
    """Send ``sig`` to the child's process group (SIGSTOP/SIGCONT for a hung node)."""
    _signal_group(proc, sig)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(proc: Process, sig: signal.Signals) -> None:
    for pid in group_pids(proc):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    _reap(proc.pid)


def _same_leader(proc: Process) -> bool:
    stat = _stat(proc.pid)
    return stat is not None and int(stat[19]) == proc.start_ticks


def _pids_in_group(pgid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z" and int(stat[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _orphans_of_group(pgid: int) -> list[int]:
    # The leader is gone (or its PID was reused by a process outside the group): members
    # left behind still carry the old group id, and a reused PID leads a group of its own
    # only if it called setsid itself, so members whose group is pgid but that are not
    # the new holder of the PID are ours.
    return [pid for pid in _pids_in_group(pgid) if pid != pgid]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return int(stat[19]) if stat else None


def _reap(pid: int) -> None:
    # When this process started the child (tests, `up` still running), collect its exit
    # status so it does not linger as a zombie; for anybody else's child this is a no-op.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
