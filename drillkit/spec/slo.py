"""SLOs checked in Prometheus and the guards that abort a drill: typed, one model per kind.

A drill lists them under ``slos:`` and ``abort:``; ``drillkit.observe.promql`` turns each
into the exact PromQL that is evaluated and stored with its verdict:

    slos:
      - {name: p99, kind: latency, quantile: 0.99, threshold_ms: 250, window_s: 10}
      - {name: errors, kind: error_ratio, max_ratio: 0.01, window_s: 10}
      - {name: page, kind: burn_rate, objective: 0.999, pairs: [{long_s: 60, short_s: 5, factor: 14.4}]}
    abort:
      - {name: error-storm, source: prometheus, signal: error_ratio, above: 0.5, for_s: 10}
      - {name: error-storm-client, source: loadgen, signal: error_ratio, above: 0.5, for_s: 10}
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from drillkit.spec.loader import Spec
from drillkit.spec.names import RegionName
from drillkit.spec.safe import MAX_MS, MAX_SECONDS, MAX_VALUE

_CHECK_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Comparison(StrEnum):
    """How the measured value must relate to the threshold for the SLO to hold."""

    LE = "<="
    LT = "<"
    GE = ">="
    GT = ">"

    def holds(self, value: float, threshold: float) -> bool:
        return {"<=": value <= threshold, "<": value < threshold, ">=": value >= threshold, ">": value > threshold}[self.value]

    @property
    def upper_bound(self) -> bool:
        """True when larger values are worse (the SLO is a ceiling)."""
        return self in (Comparison.LE, Comparison.LT)


class Evaluate(StrEnum):
    """Which value of the range decides: the worst step, the last one, or the mean."""

    WORST = "worst"
    LAST = "last"
    MEAN = "mean"


class _Check(Spec):
    name: Annotated[str, Field(pattern=_CHECK_NAME, description="lowercase name, e.g. p99-latency")]
    window_s: float = Field(10.0, ge=1, le=86_400, description="rate() window in seconds (>= 2 scrape intervals)")
    evaluate: Evaluate = Field(Evaluate.WORST, description="worst, last or mean over the drill")
    allow_no_data: bool = Field(False, description="let NO_DATA pass this check (never the default)")


class LatencySlo(_Check):
    kind: Literal["latency"]
    quantile: float = Field(0.99, gt=0, lt=1, description="quantile of the client-side histogram, e.g. 0.99")
    threshold_ms: float = Field(gt=0, le=MAX_MS, description="the most latency that passes, ms")
    request_kind: Literal["all", "search", "recommend"] = Field("all", description="all, search or recommend")


class ErrorRatioSlo(_Check):
    kind: Literal["error_ratio"]
    max_ratio: float = Field(ge=0, le=1, description="the largest failed share that passes, e.g. 0.01")


class AvailabilitySlo(_Check):
    kind: Literal["availability"]
    min_ratio: float = Field(ge=0, le=1, description="the smallest successful share that passes, e.g. 0.99")


class TrafficShareSlo(_Check):
    kind: Literal["traffic_share"]
    region: RegionName = Field(description="the region whose share of successful requests is checked")
    min_share: float | None = Field(None, ge=0, le=1, description="lower bound, e.g. 0.95")
    max_share: float | None = Field(None, ge=0, le=1, description="upper bound, e.g. 0.05")

    @model_validator(mode="after")
    def _one_bound(self) -> TrafficShareSlo:
        if (self.min_share is None) == (self.max_share is None):
            raise ValueError("give exactly one of min_share and max_share")
        return self


class QueueTimeSlo(_Check):
    kind: Literal["queue_time"]
    threshold_ms: float = Field(gt=0, le=MAX_MS, description="the most mean Triton queue time per request that passes, ms")
    region: RegionName | None = Field(None, description="one region's nodes, or all")


class GpuUtilizationSlo(_Check):
    kind: Literal["gpu_utilization"]
    max_ratio: float = Field(gt=0, le=1, description="the highest GPU utilization that passes, 0..1")


class GpuMemorySlo(_Check):
    kind: Literal["gpu_memory"]
    max_used_ratio: float = Field(gt=0, le=1, description="the highest used share of GPU memory that passes, 0..1")


class BackendsUpSlo(_Check):
    kind: Literal["backends_up"]
    min_up: int = Field(ge=0, le=10_000, description="the fewest gateway backends UP that passes")
    region: RegionName | None = Field(None, description="count one region's nodes, or all")


class BurnRatePair(Spec):
    """One fast/slow window pair of a multiwindow burn-rate alert (SRE workbook, ch. 5)."""

    long_s: float = Field(gt=0, le=MAX_SECONDS, description="long window, seconds (e.g. 3600)")
    short_s: float = Field(gt=0, le=MAX_SECONDS, description="short window, seconds (e.g. 300: 1/12 of the long one)")
    factor: float = Field(gt=0, le=1e6, description="burn rate that fires, e.g. 14.4 (2% of a 30-day budget in 1 h)")

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnRatePair:
        if self.short_s >= self.long_s:
            raise ValueError("short_s must be shorter than long_s")
        return self


# The SRE workbook's paging pairs: 2% of a 30-day budget in 1 h, 5% in 6 h.
WORKBOOK_PAIRS = (BurnRatePair(long_s=3600, short_s=300, factor=14.4), BurnRatePair(long_s=21600, short_s=1800, factor=6.0))


class BurnRateSlo(_Check):
    kind: Literal["burn_rate"]
    objective: float = Field(gt=0, lt=1, description="the availability objective, e.g. 0.999")
    pairs: tuple[BurnRatePair, ...] = Field(WORKBOOK_PAIRS, min_length=1, description="fast/slow window pairs")
    expect_fire: bool = Field(False, description="pass only when the alert fires (a detection test)")


class PromqlSlo(_Check):
    kind: Literal["promql"]
    query: str = Field(min_length=1, description="any PromQL returning a number")
    comparison: Comparison = Field(description="<=, <, >= or >")
    threshold: float = Field(ge=-MAX_VALUE, le=MAX_VALUE, description="the value compared against")


SloCheck = Annotated[
    LatencySlo | ErrorRatioSlo | AvailabilitySlo | TrafficShareSlo | QueueTimeSlo | GpuUtilizationSlo
    | GpuMemorySlo | BackendsUpSlo | BurnRateSlo | PromqlSlo,
    Field(discriminator="kind"),
]


class GuardSource(StrEnum):
    PROMETHEUS = "prometheus"  # PromQL on the environment's Prometheus
    LOADGEN = "loadgen"  # the load generator's own request log: works when Prometheus is the casualty


class GuardSignal(StrEnum):
    ERROR_RATIO = "error_ratio"
    P99_MS = "p99_ms"
    BACKENDS_UP = "backends_up"  # prometheus only: gateway backends UP, all regions
    PROMQL = "promql"  # prometheus only: ``query``


class AbortGuard(Spec):
    """Stop the method and roll back at once when ``signal`` stays beyond a bound for ``for_s``."""

    name: Annotated[str, Field(pattern=_CHECK_NAME, description="lowercase name, e.g. error-storm")]
    source: GuardSource = Field(description="prometheus or loadgen")
    signal: GuardSignal = Field(description="error_ratio, p99_ms, backends_up or promql")
    query: str | None = Field(None, description="PromQL, for signal: promql")
    above: float | None = Field(None, ge=-MAX_VALUE, le=MAX_VALUE, description="trip when the value is above this")
    below: float | None = Field(None, ge=-MAX_VALUE, le=MAX_VALUE, description="trip when the value is below this")
    window_s: float = Field(5.0, ge=1, le=600, description="look-back of the signal, seconds")
    for_s: float = Field(10.0, ge=0, le=3600, description="how long the condition must hold before tripping")

    @model_validator(mode="after")
    def _consistent(self) -> AbortGuard:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above and below")
        if (self.signal is GuardSignal.PROMQL) != (self.query is not None):
            raise ValueError("query is required with signal: promql, and only with it")
        if self.source is GuardSource.LOADGEN and self.signal not in (GuardSignal.ERROR_RATIO, GuardSignal.P99_MS):
            raise ValueError("a loadgen guard watches error_ratio or p99_ms")
        return self

    def tripped_by(self, value: float) -> bool:
        """True when ``value`` is beyond the guard's bound."""
        if self.above is not None:
            return value > self.above
        return value < float(self.below)  # type: ignore[arg-type]  (one of the two is set)
