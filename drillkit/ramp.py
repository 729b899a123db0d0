"""Running a capacity ramp (``drillkit.knee`` judges it): the ramp's trace replayed through the
gateway to one region only, its request log in the run folder.

>>> run_ramp(platform, run_dir, trace, "standby", rates(20, 1.25, 400), 4.0)   # doctest: +SKIP
PosixPath('reports/capacity-20261207-130000/capacity/standby/request_log')
"""

from __future__ import annotations

from pathlib import Path

from drillkit.knee import ramp_trace
from drillkit.load import Load, LoadPlan
from drillkit.platforms.base import Platform
from drillkit.trace import read_trace

RAMPS = "capacity"  # <run_dir>/capacity/<region>/: each ramp's trace, Locust log and request log


def run_ramp(platform: Platform, run_dir: Path, trace: Path, region: str, steps: list[float], step_s: float) -> Path:
    """Replay the ramp through the gateway to ``region`` only; its request log's folder (compacted)."""
    folder = run_dir / RAMPS / region
    ramp = ramp_trace(read_trace(trace), steps, step_s, folder / "ramp")
    status = platform.status()
    seconds = len(steps) * step_s
    load = Load(LoadPlan(trace=ramp, host=status.gateway_url or "", run_dir=folder, max_duration_s=seconds + 1, name="ramp",
                         target_region=region, max_inflight=2_000))  # fmt: skip
    load.start()
    try:
        load.wait(seconds + load.plan.request_timeout_s + 30)
    finally:
        log = load.stop()
    return log.parent
