"""A surge of traffic: a second, open-loop load on top of the drill's own, for a bounded time.

It replays the drill's trace through the gateway at ``factor - 1`` times the drill's speed
(so users send ``factor`` times the traffic in all), into the drill's own request log: every
request of the surge is a user's request, measured and judged with the rest. It ends by itself
after ``duration_s`` (its Locust run is capped there); its undo ends it sooner. Locust writes
its own log as ``surge.log`` in the run folder.

>>> surge = start_surge(platform, run_dir, trace, speed=0.75, factor=3.0, duration_s=30)   # doctest: +SKIP
>>> surge.started_at                                                                       # doctest: +SKIP
1796650000.2
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from drillkit import supervise
from drillkit.load import Load, LoadPlan
from drillkit.platforms.base import Platform

NAME = "surge"


@dataclass(frozen=True)
class Surge:
    process: supervise.Process
    started_at: float  # its first request was sent
    rate_rps: float  # what it adds, on average


def start_surge(platform: Platform, run_dir: Path, trace: Path, *, speed: float, factor: float, duration_s: float) -> Surge:
    """Start the surge's load and return once it sends (StartupError with Locust's log if not)."""
    status = platform.status()
    targets = status.loadgen_targets_dir
    load = Load(LoadPlan(trace=trace, host=status.gateway_url or "", run_dir=run_dir, speed=speed * (factor - 1),
                         max_duration_s=duration_s, metrics_dir=Path(targets) if targets else None, name=NAME,
                         log_dir=run_dir / "request_log", compact=False, worker_prefix=NAME))  # fmt: skip
    load.start()
    assert load.process is not None
    load.wait_sending()
    rate = load.scheduled / max(load.duration_s, 1e-6)
    return Surge(load.process, time.time(), rate)


def stop_surge(process: supervise.Process) -> None:
    """End a surge's load (SIGTERM lets it write what it sent; then whatever is left)."""
    if supervise.alive(process):
        supervise.terminate([process], grace_s=15)
