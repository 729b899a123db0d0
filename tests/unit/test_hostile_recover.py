"""``drillkit recover`` and ``down`` signal only what drillkit started, whatever a file says.

The victims here are processes this test starts *without* drillkit (plain ``subprocess``),
so nothing of drillkit's marks them; a forged record copies their pid, start ticks and
command line from ``/proc``, as anybody can.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drillkit import supervise
from drillkit.chaos.undo import undo_pending
from drillkit.undo import UndoLog

FAMILY = ["bash", "-c", "sleep 60 & sleep 60 & wait"]


class _Recovering:
    """The one thing the helper undos need from a platform: its undo log."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def undo_log(self) -> UndoLog:
        return UndoLog(self.root / "undo.jsonl")


@pytest.fixture
def fake_locust(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``python -m locust -f x`` runs a sleeper, not Locust."""
    package = tmp_path / "fake" / "locust"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import time\ntime.sleep(60)\n")
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "fake")}


@pytest.fixture
def victims() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(command, env=env, start_new_session=True)
        started.append(child)
        assert _eventually(lambda: _cmdline(child.pid) == tuple(command))
        return child

    yield start
    for child in started:  # only the processes this test started, by their group
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait(timeout=5)


def forged(pid: int, **changes: object) -> supervise.Process:
    """A record of ``pid`` with what /proc tells anybody: start ticks and command line."""
    record = supervise.Process(name="locust", pid=pid, start_ticks=_ticks(pid), command=_cmdline(pid),
                               log=Path("/tmp/x.log"))  # fmt: skip
    return record.model_copy(update=changes)


def record_stop(root: Path, proc: supervise.Process) -> None:
    UndoLog(root / "undo.jsonl").record("load", "stop_process", {"process": proc.model_dump(mode="json")})


def test_a_forged_stop_process_entry_does_not_kill_a_process_drillkit_did_not_start(
    tmp_path: Path, fake_locust: dict[str, str], victims: Callable[..., subprocess.Popen[bytes]]
) -> None:
    victim = victims([sys.executable, "-m", "locust", "-f", "x"], fake_locust)
    record_stop(tmp_path, forged(victim.pid))
    [done] = undo_pending(_Recovering(tmp_path), faults_only=False)  # type: ignore[arg-type]
    assert done["error"] is None and "left alone" in done["note"]
    time.sleep(0.2)
    assert victim.poll() is None


def test_a_forged_stop_process_entry_for_another_program_is_refused(
    tmp_path: Path, victims: Callable[..., subprocess.Popen[bytes]]
) -> None:
    victim = victims(["sleep", "60"])
    record_stop(tmp_path, forged(victim.pid))
    [done] = undo_pending(_Recovering(tmp_path), faults_only=False)  # type: ignore[arg-type]
    assert "not a drillkit load generator" in done["error"]
    time.sleep(0.2)
    assert victim.poll() is None


def test_recover_still_stops_the_load_generator_drillkit_started(tmp_path: Path, fake_locust: dict[str, str]) -> None:
    load = supervise.spawn("locust", [sys.executable, "-m", "locust", "-f", "x"], log_path=tmp_path / "l.log", env=fake_locust)
    try:
        record_stop(tmp_path, load)
        [done] = undo_pending(_Recovering(tmp_path), faults_only=False)  # type: ignore[arg-type]
        assert done["error"] is None and done["note"] is None
        assert not supervise.alive(load) and supervise.group_pids(load) == []
    finally:
        supervise.kill(load)


def test_a_record_whose_ticks_do_not_match_a_live_leader_signals_none_of_its_group(
    victims: Callable[..., subprocess.Popen[bytes]],
) -> None:
    leader = victims(FAMILY)
    assert _eventually(lambda: len(_group(leader.pid)) == 3)
    for record in (forged(leader.pid, start_ticks=_ticks(leader.pid) - 1), forged(leader.pid, command=("bash",))):
        assert supervise.group_pids(record) == []
        supervise.terminate([record], grace_s=0.2)
    assert len(_group(leader.pid)) == 3 and leader.poll() is None


def test_orphans_of_a_dead_leader_are_signalled_only_when_they_carry_the_recorded_token(
    victims: Callable[..., subprocess.Popen[bytes]],
) -> None:
    leader = victims(FAMILY)
    assert _eventually(lambda: len(_group(leader.pid)) == 3)
    record = forged(leader.pid, token="f" * 32)
    os.kill(leader.pid, signal.SIGKILL)  # only the leader: its two children live on in its group
    leader.wait(timeout=5)
    assert supervise.group_pids(record) == []
    supervise.terminate([record], grace_s=0.2)
    assert len(_group(leader.pid)) == 2


def test_children_get_no_cloud_keys_unless_they_need_them(tmp_path: Path) -> None:
    secrets = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok",
               "DRILLKIT_S3_SECRET_ACCESS_KEY": "s3cr3t", "GITHUB_TOKEN": "ghp", "DB_PASSWORD": "pw"}  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **secrets}
    plain = supervise.spawn("plain", ["sleep", "60"], log_path=tmp_path / "p.log", env=env)
    keeper = supervise.spawn("backup", ["sleep", "60"], log_path=tmp_path / "b.log", env=env, keep=["AWS_ACCESS_KEY_ID"])
    try:
        seen = _environ(plain.pid)
        assert seen["PATH"] == "/usr/bin:/bin" and seen["LANG"] == "C.UTF-8"
        assert not set(secrets) & set(seen)
        assert set(secrets) & set(_environ(keeper.pid)) == {"AWS_ACCESS_KEY_ID"}
    finally:
        supervise.kill(plain)
        supervise.kill(keeper)


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _cmdline(pid: int) -> tuple[str, ...]:
    return tuple(Path(f"/proc/{pid}/cmdline").read_bytes().decode().removesuffix("\0").split("\0"))


def _environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def _eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def test_a_wrapper_that_execs_the_real_program_is_still_recognised(tmp_path: Path) -> None:
    # A shim (pyenv, a test's wrapper) execs the real program with the same arguments: the
    # command line's program changes, its arguments do not.
    wrapper = tmp_path / "wrapper"
    wrapper.write_text('#!/bin/sh\nexec sleep "$@"\n')
    wrapper.chmod(0o755)
    proc = supervise.spawn("shimmed", [str(wrapper), "60"], log_path=tmp_path / "w.log")
    try:
        deadline = time.monotonic() + 5
        while _cmdline(proc.pid) != ("sleep", "60") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _cmdline(proc.pid) == ("sleep", "60")
        assert supervise.alive(proc)
        other = supervise.Process(**{**proc.model_dump(), "command": (str(wrapper), "61")})
        assert not supervise.alive(other)  # other arguments: not the recorded process
        untokened = supervise.Process(**{**proc.model_dump(), "token": ""})
        assert not supervise.alive(untokened)  # without a token the whole command must show
    finally:
        supervise.kill(proc)


def test_a_script_started_through_its_interpreter_is_still_recognised(tmp_path: Path) -> None:
    script = tmp_path / "helper.sh"
    script.write_text("#!/bin/sh\nsleep 60\n")
    script.chmod(0o755)
    proc = supervise.spawn("helper", [str(script), "arg"], log_path=tmp_path / "h.log")
    try:
        assert _cmdline(proc.pid) == ("/bin/sh", str(script), "arg")  # the kernel put sh in front
        assert supervise.alive(proc)
        supervise.terminate([proc], grace_s=2)
        assert not supervise.alive(proc) and supervise.group_pids(proc) == []
    finally:
        supervise.kill(proc)
