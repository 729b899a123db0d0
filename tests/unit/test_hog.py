"""The resource hog: how much GPU memory it takes, how it tells a node, and a real CPU run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from drillkit.chaos import hog
from drillkit.model.node import MEMORY_PRESSURE_SIGNAL

GIB = 2**30


def test_a_hog_takes_its_level_of_the_memory_others_leave_and_tops_up_what_comes_free() -> None:
    assert hog.grab_bytes(held=0, free=10 * GIB, level=0.5) == 5 * GIB
    assert hog.grab_bytes(held=5 * GIB, free=5 * GIB, level=0.5) == 0  # it holds its share already
    assert hog.grab_bytes(held=5 * GIB, free=7 * GIB, level=0.5) == 1 * GIB  # a node handed 2 GiB back
    assert hog.grab_bytes(held=3 * GIB, free=1 * GIB, level=1.0) == 1 * GIB  # level 1 leaves nothing
    assert hog.grab_bytes(held=0, free=hog.MIN_GRAB, level=0.5) == 0  # below the allocator's granularity


def test_a_memory_level_outside_0_to_1_is_refused() -> None:
    with pytest.raises(SystemExit) as exc:
        hog.main(["--kind", "memory", "--level", "1.5", "--device", "cpu"])
    assert exc.value.code == 2


def test_the_hog_signals_the_nodes_it_was_given_and_skips_one_that_is_gone() -> None:
    waiter = subprocess.Popen(
        [sys.executable, "-c", (f"import signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, [{int(MEMORY_PRESSURE_SIGNAL)}]); "
                                f"print('ready', flush=True); sys.exit(0 if signal.sigtimedwait([{int(MEMORY_PRESSURE_SIGNAL)}], 10) else 1)")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert waiter.stdout is not None and waiter.stdout.readline().strip() == "ready"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    hog._notify([gone.pid, waiter.pid])
    assert waiter.wait(timeout=10) == 0
    assert MEMORY_PRESSURE_SIGNAL == signal.SIGURG  # ignored by default: a stray one harms nothing


def test_a_cpu_memory_hog_holds_its_share_and_ends_by_itself() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "drillkit.chaos.hog", "--kind", "memory", "--level", "0.25", "--cpu-memory-gib", "0.125",
         "--device", "cpu", "--duration", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "hog memory level 0.25 on cpu" in done.stdout and "holding 32 MiB" in done.stdout
    assert time.monotonic() - started < 30
