"""Run a drill's Chaos Toolkit experiment in-process, with its timeline control and guards.

chaoslib stops an experiment gracefully (rollbacks still run) on SIGUSR1, which is what an
abort guard sends when it trips. Guards are armed only while chaoslib runs; outside it,
SIGUSR1 is ignored for the drill's whole life, so a guard that trips in the instant after
the experiment ends can never kill the drill (SIGUSR1's default action ends a process).

>>> with guard_signals():                                                   # doctest: +SKIP
...     journal = run_guarded(experiment, request_log=log, timeline=path, guards=watch)
"""

from __future__ import annotations

import copy
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drillkit.chaos.context import REQUEST_LOG_KEY, SPEED_KEY, TRACE_KEY
from drillkit.events import fire
from drillkit.observe.guards import Abort, GuardWatch


@contextmanager
def guard_signals() -> Iterator[None]:
    """Ignore SIGUSR1 outside chaoslib's own handler (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def stop_experiment(trip: Abort) -> None:
    """Ask chaoslib to stop the method now and run the rollbacks (its SIGUSR1 handler)."""
    from chaoslib.exit import exit_gracefully

    exit_gracefully()


def run_guarded(experiment: dict[str, Any], *, request_log: Path, timeline: Path, guards: GuardWatch | None,
                trace: Path | None = None, speed: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """Run ``experiment`` with the timeline control; return its Chaos Toolkit journal. The
    activities find the drill's request log (and trace) in their configuration."""
    from chaoslib.experiment import run_experiment

    experiment = copy.deepcopy(experiment)
    experiment["configuration"][REQUEST_LOG_KEY] = str(request_log)
    if trace is not None:
        experiment["configuration"][TRACE_KEY] = str(trace)
    experiment["configuration"][SPEED_KEY] = speed
    experiment.setdefault("controls", []).append({
        "name": "drillkit-timeline",
        "provider": {"type": "python", "module": "drillkit.chaos.control", "arguments": {"timeline": str(timeline)}},
    })  # fmt: skip
    _event(timeline, "experiment_started", title=experiment.get("title"))
    if guards is not None:
        guards.arm()
    try:
        journal = run_experiment(experiment, settings={})
    finally:
        if guards is not None:
            guards.disarm()
    _event(timeline, "experiment_ended", status=journal.get("status"), deviated=journal.get("deviated"))
    return journal


def _event(timeline: Path, event: str, **fields: Any) -> None:
    fire(timeline, event, **fields)
