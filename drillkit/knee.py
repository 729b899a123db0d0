"""A region's capacity, measured: a rising, open-loop ramp and the knee of its curve.

The ramp replays the drill's own requests (its trace's rows, in order, again as needed) at a
rising schedule of rates, each held for ``step_s``, through the gateway with every request
naming one region (``X-Drillkit-Region-Target``): that region's nodes alone serve it. Each
step is judged from its requests in the ramp's own request log:

- offered and achieved rates, p50/p99 of the answers, the error ratio (shed ones included);
- the generator's own lag (send time minus scheduled time): a step whose lag p99 is over
  ``max_lag_ms``, or that sent fewer than 95 % of its requests, is **generator-limited**: the
  load generator, not the system, fell behind, and such a step never counts as the system's
  limit;
- a step is within the SLO when its p99 is within the drill's ``slo.p99_ms``, its error ratio
  within ``slo.error_budget`` and it achieved at least 90 % of what it offered.

The **knee** is the highest offered rate of the steps that are all within the SLO from the
first one up: the first step that is not ends the search (``limited_by: slo``), as does the
first generator-limited step (``limited_by: generator``: the knee is at least that much), or
the end of the ramp (``limited_by: ramp``).

>>> rates(20, 1.5, 100)
[20.0, 30.0, 45.0, 67.5, 100.0]
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from drillkit.trace import Trace, write_trace
from drillkit.units import Record
from drillkit.workload.trace import write_kserve

RAMP = "measure_capacity"  # the action whose outputs are the ramps
MIN_SENT_SHARE = 0.95
MIN_ACHIEVED_SHARE = 0.9


def rates(start_rps: float, growth: float, max_rps: float) -> list[float]:
    """The ramp's rates: ``start_rps`` times ``growth`` each step, the last one ``max_rps``."""
    out, rate = [], start_rps
    while rate < max_rps * 0.999:
        out.append(round(float(rate), 1))
        rate *= growth
    return [*out, float(max_rps)]


def ramp_trace(trace: Trace, steps: list[float], step_s: float, path: Path) -> Path:
    """The trace's rows, cycled, re-timed to the ramp's rates; written in the trace's own format."""
    frame = trace.frame
    offsets = np.concatenate([i * step_s + np.arange(math.floor(rate * step_s)) / rate for i, rate in enumerate(steps)])
    rows = frame.iloc[np.arange(len(offsets)) % len(frame)].reset_index(drop=True)
    if trace.format == "kserve":
        return write_kserve([{"offset_s": float(o), "model": m, "version": v, "inputs": json.loads(i)}
                             for o, m, v, i in zip(offsets, rows["kind"], rows["version"], rows["inputs"], strict=True)],
                            path.with_suffix(".jsonl"))  # fmt: skip
    return write_trace(rows.assign(offset_s=offsets), path.with_suffix(".parquet"))


class Step(Record):
    offered_rps: float
    requests: int = Field(ge=0, description="requests sent in the step")
    achieved_rps: float = Field(description="answers per second")
    p50_ms: float | None = None
    p99_ms: float | None = None
    error_ratio: float
    lag_p99_ms: float = Field(description="the load generator's send time minus scheduled time, p99")
    generator_limited: bool
    within_slo: bool


class RegionCurve(Record):
    region: str
    step_s: float
    steps: list[Step]
    knee_rps: float | None = Field(description="the highest rate within the SLO from the first step up (None: not even the first)")
    limited_by: Literal["slo", "generator", "ramp", "none"] = Field(description="what ended the search for the knee")


def curve(log: pd.DataFrame, region: str, steps: list[float], step_s: float, *, p99_ms: float, error_budget: float,
          max_lag_ms: float) -> RegionCurve:  # fmt: skip
    """Each step judged from the ramp's request log (a pure function of it), and the knee."""
    origin = float(log["scheduled_at"].min()) if len(log) else 0.0
    index = np.floor((log["scheduled_at"].to_numpy() - origin) / step_s).astype(int) if len(log) else np.array([], int)
    judged = [_step(log[index == i], rate, step_s, p99_ms=p99_ms, error_budget=error_budget, max_lag_ms=max_lag_ms)
              for i, rate in enumerate(steps)]  # fmt: skip
    knee, limited = None, "ramp"
    for step in judged:
        if step.generator_limited:
            limited = "generator"
            break
        if not step.within_slo:
            limited = "slo"
            break
        knee = step.offered_rps
    return RegionCurve(region=region, step_s=step_s, steps=judged, knee_rps=knee, limited_by=limited if judged else "none")


def _step(rows: pd.DataFrame, rate: float, step_s: float, *, p99_ms: float, error_budget: float, max_lag_ms: float) -> Step:
    planned = math.floor(rate * step_s)
    ok = rows[rows["outcome"] == "ok"]
    lag = float((rows["sent_at"] - rows["scheduled_at"]).quantile(0.99)) * 1e3 if len(rows) else math.inf
    errors = float((rows["outcome"] != "ok").mean()) if len(rows) else 1.0
    p99 = float(ok["latency_s"].quantile(0.99)) * 1e3 if len(ok) else None
    limited = lag > max_lag_ms or len(rows) < MIN_SENT_SHARE * planned
    achieved = len(ok) / step_s
    within = not limited and p99 is not None and p99 <= p99_ms and errors <= error_budget and achieved >= MIN_ACHIEVED_SHARE * rate
    return Step(offered_rps=rate, requests=len(rows), achieved_rps=round(achieved, 2),
                p50_ms=round(float(ok["latency_s"].quantile(0.5)) * 1e3, 2) if len(ok) else None,
                p99_ms=round(p99, 2) if p99 is not None else None, error_ratio=round(errors, 4),
                lag_p99_ms=round(lag, 2) if math.isfinite(lag) else 1e9, generator_limited=limited, within_slo=within)  # fmt: skip



class CapacitySection(Record):
    """The journal's ``capacity_curve``: each ramped region's steps and knee."""

    regions: list[RegionCurve]


class RampOutput(Record):
    """What ``measure_capacity`` returned: the ramp's plan and where its request log is."""

    model_config = Record.model_config | {"extra": "ignore"}
    region: str
    rates: list[float] = Field(min_length=1, max_length=1000)
    step_s: float = Field(gt=0)
    max_lag_ms: float = Field(gt=0)
    log: str
    nodes: int | None = None


def capacity_section(ramps: list[tuple[RampOutput, pd.DataFrame]], *, p99_ms: float, error_budget: float) -> CapacitySection | None:
    """The section from each ramp's plan and request log (None: the drill ramped nothing)."""
    if not ramps:
        return None
    return CapacitySection(regions=[curve(log, r.region, r.rates, r.step_s, p99_ms=p99_ms, error_budget=error_budget,
                                          max_lag_ms=r.max_lag_ms) for r, log in ramps])  # fmt: skip
