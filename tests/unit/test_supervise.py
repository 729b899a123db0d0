"""Process supervision: whole process groups, PID-reuse guard, SIGTERM then SIGKILL."""

import os
import signal
import sys
import time
from pathlib import Path

from drillkit import supervise

FAMILY = ["bash", "-c", "sleep 60 & sleep 60 & wait"]


def test_spawn_detaches_into_its_own_group_and_terminate_ends_all_of_it(tmp_path: Path) -> None:
    proc = supervise.spawn("family", FAMILY, log_path=tmp_path / "family.log")
    try:
        assert supervise.alive(proc)
        assert _eventually(lambda: len(supervise.group_pids(proc)) == 3)
        supervise.terminate([proc], grace_s=5)
        assert supervise.group_pids(proc) == []
        assert not supervise.alive(proc)
    finally:
        supervise.kill(proc)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = ["bash", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"]
    proc = supervise.spawn("stubborn", stubborn, log_path=tmp_path / "stubborn.log")
    assert _eventually(lambda: "ready" in supervise.log_tail(proc.log))
    supervise.terminate([proc], grace_s=0.5)
    assert supervise.group_pids(proc) == []


def test_members_left_behind_by_a_dead_leader_are_still_found(tmp_path: Path) -> None:
    proc = supervise.spawn("family", FAMILY, log_path=tmp_path / "family.log")
    assert _eventually(lambda: len(supervise.group_pids(proc)) == 3)
    os.kill(proc.pid, signal.SIGKILL)  # only the leader: its two children are orphaned
    assert _eventually(lambda: not supervise.alive(proc))
    assert len(supervise.group_pids(proc)) == 2
    supervise.terminate([proc], grace_s=2)
    assert supervise.group_pids(proc) == []


def test_a_paused_child_is_reported_and_still_terminated(tmp_path: Path) -> None:
    proc = supervise.spawn("sleeper", ["sleep", "60"], log_path=tmp_path / "s.log")
    supervise.send(proc, signal.SIGSTOP)
    assert _eventually(lambda: supervise.paused(proc))
    supervise.terminate([proc], grace_s=2)
    assert not supervise.alive(proc)


def test_a_recycled_pid_is_not_mistaken_for_the_child(tmp_path: Path) -> None:
    proc = supervise.spawn("sleeper", ["sleep", "60"], log_path=tmp_path / "s.log")
    impostor = proc.model_copy(update={"start_ticks": proc.start_ticks + 1})
    try:
        assert supervise.alive(proc)
        assert not supervise.alive(impostor)
    finally:
        supervise.kill(proc)


def test_a_child_started_via_a_wrapper_is_the_command_it_execs(tmp_path: Path) -> None:
    wrapper = ["bash", "-c", 'sleep 0.3; exec "$@"', "wrapper"]  # checks first, then becomes the command
    proc = supervise.spawn("sleeper", ["sleep", "60"], log_path=tmp_path / "s.log", via=wrapper)
    try:
        assert proc.command == ("sleep", "60") and supervise.alive(proc)  # while the wrapper runs
        assert _eventually(lambda: Path(f"/proc/{proc.pid}/exe").resolve().name == "sleep")
        assert supervise.alive(proc) and supervise.started_by_drillkit(proc)  # the same PID, now sleep itself
    finally:
        supervise.terminate([proc], grace_s=2)
    assert not supervise.alive(proc)


def test_a_child_is_alive_through_its_exec(tmp_path: Path) -> None:
    # The kernel shows an empty command line or environment for a moment inside execve: a
    # start-up wait that polls `alive` must not read that moment as the child's exit (it once
    # failed `drillkit up` with "exited during start-up" and an empty log).
    wrapper = [sys.executable, "-c", "import os, sys, time; time.sleep(0.05); os.execv(sys.argv[1], sys.argv[1:])"]
    misses = 0
    for _ in range(15):
        proc = supervise.spawn("sleeper", ["/bin/sleep", "60"], log_path=tmp_path / "s.log", via=wrapper)
        try:
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                misses += not supervise.alive(proc)
        finally:
            supervise.kill(proc)
        assert not supervise.alive(proc)
    assert misses == 0


def test_log_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert supervise.log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert supervise.log_tail(tmp_path / "missing.log") == ""


def _eventually(check, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())
