"""The environment's ``autoscale:`` section: drillkit's own autoscaler for the embedded platform,
or, on Kubernetes, watching the autoscaler the user runs (a HorizontalPodAutoscaler).

>>> AutoscaleSpec(above_ms=120).signal
'loadgen_p99'
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from drillkit.spec.loader import Spec
from drillkit.spec.safe import MAX_MS, MAX_SECONDS


class AutoscaleSpec(Spec):
    """Scale the serving region out by ``step`` nodes (up to its ``max_nodes``) when users'
    p99 stays above ``above_ms`` for ``for_s``; at most once every ``cooldown_s``."""

    mode: Literal["drillkit", "observe"] = Field(
        "drillkit", description="drillkit: scale out while a drill runs; observe: only record the replicas (your HPA scales)")
    signal: Literal["loadgen_p99", "prometheus_p99"] = Field(
        "loadgen_p99", description="the p99 users feel: the load generator's own, or its histogram in Prometheus")
    above_ms: float = Field(150.0, gt=0, le=MAX_MS, description="scale out when the p99 is above this, ms")
    for_s: float = Field(2.0, ge=0, le=MAX_SECONDS, description="...for this long, seconds")
    window_s: float = Field(2.0, gt=0, le=300, description="the p99 is over the last window, seconds")
    step: int = Field(1, ge=1, le=16, description="nodes added each time")
    cooldown_s: float = Field(10.0, ge=0, le=MAX_SECONDS, description="the least time between two scale-outs, seconds")
    interval_s: float = Field(0.5, gt=0, le=60, description="how often the signal is read, seconds")
