"""The gateway's per-try timeout, per model: how long one try may take before it is retried elsewhere.

A hung or blackholed node answers nothing, so every request in flight on it waits out its
try's timeout before HAProxy redispatches it; the first such timeout also marks the node down
(``observe layer7``). The timeout is therefore the latency a hang adds, and it must be tight.
Too tight, and a heavy but healthy request (a search over a large catalogue on a busy node)
times out: it is retried, doubling its work, and its healthy node is marked down.

So the timeout is derived from what each model needs on a *busy* node:

    try timeout = clamp(factor x p99.9, floor, server timeout)

where p99.9 comes from a short calibration at ``drillkit up``: a closed-loop burst of golden
probes at ``CONCURRENCY`` in flight, sent straight to one node (outside the gateway), so the
node queues as it does under load, after an unmeasured warm-up burst. A drill checks again at the end of its warm-up, under the
real traffic: a model whose warm-up p99.9 exceeds its per-try timeout is named in the capacity
pre-check's warnings (its heavy requests would be retried).

>>> spec = GatewaySpec(try_timeout_factor=2.0, try_timeout_floor_ms=100)
>>> derive({"recommend": [20.0] * 99 + [30.0], "search": [90.0] * 100}, spec).models
{'recommend': 100, 'search': 180}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from drillkit.burst import BurstLimits, quantile, run_burst
from drillkit.gateway import MODELS, initial_try_timeouts
from drillkit.spec import GatewaySpec
from drillkit.units import Record
from drillkit.workload.golden import GoldenSet

QUANTILE = 0.999
CONCURRENCY = 4  # requests in flight on the one node: a busy node, not an idle one
# 300 probes (150 a model): the p99.9 of so few is their slowest, which is the point; a few
# seconds at most on a 2-core machine, before any load.
CALIBRATION = BurstLimits(target_s=1.0, min_requests=300, max_requests=300, limit_s=10.0, per_node=CONCURRENCY)
# Sent first and not measured: a fresh node's first answers are slow (lazy loading, caches), and
# the p99.9 of 300 is their slowest; measured cold, an integration stack got 370 ms timeouts.
WARMUP = BurstLimits(target_s=1.0, min_requests=60, max_requests=60, limit_s=5.0, per_node=CONCURRENCY)


class TryTimeouts(Record):
    """Per-model per-try timeouts and how they were chosen (kept in the state and the journal)."""

    models: dict[str, int]  # model -> per-try timeout, ms
    source: Literal["fixed", "derived", "server-timeout"]
    p999_ms: dict[str, float] = {}  # the busy node's p99.9 per model (derived)
    samples: dict[str, int] = {}
    factor: float | None = None
    floor_ms: int | None = None
    ceiling_ms: int | None = None
    node: str | None = None  # where the calibration ran


def fixed(spec: GatewaySpec, models: Sequence[str] = MODELS) -> TryTimeouts:
    """The spec's own timeout for every model (``try_timeout_ms``), or the server timeout."""
    source = "fixed" if spec.try_timeout_ms is not None else "server-timeout"
    return TryTimeouts(models=initial_try_timeouts(spec, tuple(models)), source=source)


def derive(samples_ms: Mapping[str, Sequence[float]], spec: GatewaySpec, *, node: str | None = None) -> TryTimeouts:
    """Each model's timeout from its busy-node latencies (a model without samples keeps the server timeout)."""
    models, p999 = {}, {}
    for model, values in samples_ms.items():
        q = quantile(list(values), QUANTILE)
        if q is None:
            models[model] = spec.server_timeout_ms
            continue
        p999[model] = q
        models[model] = min(spec.server_timeout_ms, max(spec.try_timeout_floor_ms, math.ceil(spec.try_timeout_factor * q)))
    return TryTimeouts(models=models, source="derived", p999_ms=p999, samples={m: len(v) for m, v in samples_ms.items()},
                       factor=spec.try_timeout_factor, floor_ms=spec.try_timeout_floor_ms,
                       ceiling_ms=spec.server_timeout_ms, node=node)  # fmt: skip


def calibrate(endpoint: str, golden: GoldenSet, spec: GatewaySpec, *, node: str | None = None,
              limits: BurstLimits = CALIBRATION) -> TryTimeouts:  # fmt: skip
    """Measure each model on the node at ``endpoint`` under ``CONCURRENCY`` requests in flight and derive.

    A probe that fails or answers wrongly is not a latency: the calibration then keeps the
    server timeout for every model, as ``drillkit up`` would without it.
    """
    if spec.try_timeout_ms is not None:
        return fixed(spec, golden.models)
    run_burst([endpoint], golden, rps=1.0, latency_s=0.0, limits=WARMUP)
    burst = run_burst([endpoint], golden, rps=1.0, latency_s=0.0, limits=limits)
    if burst.errors or burst.wrong or not burst.by_model:
        return fixed(spec, golden.models)
    return derive({m: burst.by_model.get(m, []) for m in golden.models}, spec, node=node)


def warmup_warnings(timeouts: Mapping[str, int], warmup_p999_ms: Mapping[str, float]) -> list[str]:
    """A warning for each model whose warm-up p99.9 exceeds its per-try timeout."""
    return [
        f"the per-try timeout of {model} ({timeouts[model]} ms) is below its warm-up p99.9 ({p999:.0f} ms): its slowest "
        f"healthy requests would be retried and mark their node down (raise gateway.try_timeout_factor or set "
        f"gateway.try_timeout_ms)"
        for model, p999 in sorted(warmup_p999_ms.items())
        if model in timeouts and p999 > timeouts[model]
    ]


__all__ = ["CALIBRATION", "QUANTILE", "TryTimeouts", "calibrate", "derive", "fixed", "warmup_warnings"]
