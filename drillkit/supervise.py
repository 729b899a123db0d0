"""Start, watch and end the child processes of an environment.

Every child runs in a session of its own (``setsid``), so it outlives the CLI command that
started it and a whole component (Triton node, its tritonserver and backend stubs) is one
process group. A ``Process`` record holds the PID, the kernel's start time of that PID, the
command line and a random token placed in the child's environment, so a later ``drillkit
down`` never signals an unrelated process that reused the number, and a forged record
(pid, start time and command can all be read from ``/proc``) cannot name someone else's
process: nobody can give an existing process the token.

Children get a scrubbed environment: cloud keys and other secrets of the calling shell are
removed unless the caller names the ones a child needs (``keep``).

>>> proc = spawn("sleeper", ["sleep", "60"], log_path=Path("/tmp/sleeper.log"))  # doctest: +SKIP
>>> alive(proc)                                                               # doctest: +SKIP
True
>>> terminate([proc])                                                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
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
    token: str = ""  # also in the child's environment (TOKEN_VARIABLE); "" in records older than it


TOKEN_VARIABLE = "DRILLKIT_PROCESS_TOKEN"

# Names of variables that carry credentials: a child gets them only when named in ``keep``.
_SECRET = re.compile(r"^(AWS_|DRILLKIT_S3_)|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|API_KEY|PRIVATE_KEY",
                     re.IGNORECASE)  # fmt: skip


def child_environment(base: Mapping[str, str], keep: Collection[str] = ()) -> dict[str, str]:
    """``base`` without its secrets (cloud keys, tokens, passwords), except the names in ``keep``.

    >>> child_environment({"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "x", "GITHUB_TOKEN": "y"})
    {'PATH': '/bin'}
    """
    return {k: v for k, v in base.items() if k in keep or not _SECRET.search(k)}


def spawn(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    keep: Collection[str] = (),
    cwd: Path | None = None,
    via: Sequence[str] = (),
) -> Process:
    """Start ``command`` detached in its own session, stdout and stderr appended to ``log_path``.

    The child's environment is ``env`` (default: this process's) scrubbed by
    ``child_environment``; ``keep`` names the secrets this child needs. ``via`` is a wrapper
    run first that ``exec``s ``command`` (its arguments end the wrapper's): the record names
    ``command``, which the process is recognised by before and after the exec.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    environment = {**child_environment(os.environ if env is None else env, keep), TOKEN_VARIABLE: token}
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [*via, *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=cwd,
            start_new_session=True,
        )
    proc = Process(name=name, pid=child.pid, start_ticks=_start_ticks(child.pid) or 0, command=tuple(command),
                   log=log_path, token=token)  # fmt: skip
    _wait_exec(proc)
    return proc


def _wait_exec(proc: Process, timeout_s: float = 5.0) -> None:
    # Popen can return while the kernel is still inside execve (a vforked parent resumes
    # before the new command line and environment are in place), and until they are, the
    # child would not be recognised as itself. A child that exits at once is left to its caller.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stat = _stat(proc.pid)
        if stat is None or stat[0] == "Z" or _is(proc, stat):
            return
        time.sleep(0.001)


def alive(proc: Process) -> bool:
    """True while the recorded process runs (not a zombie, not a reused PID, not another program)."""
    _reap(proc.pid)
    stat = _stat(proc.pid)
    if stat is None or stat[0] == "Z":
        return False
    return _is(proc, stat) or (int(stat[19]) == proc.start_ticks and _after_exec(proc))


def _after_exec(proc: Process, timeout_s: float = 0.05) -> bool:
    # Inside execve (a wrapper becoming its command, ``spawn(via=...)``) the kernel swaps the
    # process's memory: for a moment its command line or environment reads empty, as they do
    # for a process that exits. The same process (its start ticks) is looked at again until it
    # is itself, a zombie or gone; a record that never matches costs this bound once a call.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.001)
        _reap(proc.pid)
        stat = _stat(proc.pid)
        if stat is None or stat[0] == "Z" or int(stat[19]) != proc.start_ticks:
            return False
        if _is(proc, stat):
            return True
    return False


def started_by_drillkit(proc: Process) -> bool:
    """True when ``proc`` runs and carries its token: a record that cannot have been forged
    for somebody else's process (``alive`` also accepts records older than tokens)."""
    return bool(proc.token) and alive(proc)


def group_pids(proc: Process) -> list[int]:
    """Live PIDs in the process group the child leads (itself and what it started)."""
    stat = _stat(proc.pid)
    if stat is None:
        return _orphans_of_group(proc)
    # A PID is not handed out again while a process group of that number lives, so a holder
    # that is not our leader means the group is not ours either: signal nothing.
    return _pids_in_group(proc.pid) if _is(proc, stat) or _is_dying(proc, stat) else []


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
    return stat is not None and stat[0] == "T" and _is(proc, stat)


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


def _is(proc: Process, stat: list[str]) -> bool:
    """The process at ``proc.pid`` is the recorded one: start ticks, command line and token."""
    if int(stat[19]) != proc.start_ticks or not _runs(_cmdline(proc.pid), proc.command, token=bool(proc.token)):
        return False
    return not proc.token or _environ(proc.pid).get(TOKEN_VARIABLE) == proc.token


def _runs(actual: tuple[str, ...] | None, command: tuple[str, ...], *, token: bool) -> bool:
    # The kernel runs a script through its #! interpreter, which it puts in front of the
    # command (``/bin/sh ./script arg``): the command is then the end of the command line.
    # A wrapper or shim may also exec the real program with the same arguments (``exec
    # python3.11 "$@"``): for a record with a token (which only a child drillkit started can
    # carry) the arguments must end the command line, whatever the program shows as.
    if actual is None or not command or len(actual) < len(command):
        return False
    expected = command[1:] if token and len(command) > 1 else command
    return actual[len(actual) - len(expected) :] == expected


def _is_dying(proc: Process, stat: list[str]) -> bool:
    """Our leader, exiting or a zombie: its start ticks match and its command line is gone."""
    return int(stat[19]) == proc.start_ticks and not _cmdline(proc.pid)


def _pids_in_group(pgid: int, *, started_from: int = 0) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z" and int(stat[2]) == pgid and int(stat[19]) >= started_from:
                pids.append(int(entry.name))
    return pids


def _orphans_of_group(proc: Process) -> list[int]:
    # The leader is gone; members left behind still carry its group id (and the PID cannot
    # be handed out again while they do). Only members that started after the recorded
    # leader can be its children; the token, when recorded, must be in their environment.
    members = _pids_in_group(proc.pid, started_from=proc.start_ticks)
    if not proc.token:
        return members
    return [pid for pid in members if _environ(pid).get(TOKEN_VARIABLE) == proc.token]


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:
        return ()  # a zombie, an exiting process or a kernel thread
    return tuple(os.fsdecode(arg) for arg in raw.removesuffix(b"\0").split(b"\0"))


def _environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with ({} when it is gone or not ours to read)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {os.fsdecode(k): os.fsdecode(v) for k, v in pairs}


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
