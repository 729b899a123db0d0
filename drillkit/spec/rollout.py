"""How a release is rolled out and when it is rolled back: the environment's ``rollout:`` section.

A rollout moves one node at a time onto the new version, the primary region's first node
being the canary. The canary is judged against a node still on the old version: a bounded
sample of requests (from the trace, or the old version's golden probes) goes to both, and
the new version's answers are judged by the old version's golden rules. Any bound passed
rolls every node back:

>>> RolloutPolicy(max_wrong_share=0.0).max_latency_ratio
2.0
"""

from __future__ import annotations

from pydantic import Field, model_validator

from drillkit.spec.loader import Spec
from drillkit.spec.safe import MAX_MS, MAX_SECONDS


class RolloutPolicy(Spec):
    """The canary's comparison and the bounds that roll a release back."""

    compare_requests: int = Field(200, ge=10, le=100_000, description="requests sent to both the canary and an old node")
    compare_concurrency: int = Field(4, ge=1, le=64, description="requests in flight while comparing")
    bake_s: float = Field(5.0, ge=0, le=MAX_SECONDS, description="how long the canary serves live traffic before it is judged, seconds")
    max_wrong_share: float = Field(0.01, ge=0, le=1, description="the share of compared answers the new version may answer wrongly")
    max_error_share: float = Field(0.01, ge=0, le=1, description="the share of compared requests the new version may fail")
    max_latency_ratio: float = Field(2.0, ge=1, le=1000, description="the new version's p99 over the old one's, at most")
    latency_floor_ms: float = Field(10.0, ge=0, le=MAX_MS, description="p99s under this are not compared (noise, not a slowdown)")
    max_p99_ms: float | None = Field(None, gt=0, le=MAX_MS, description="the canary's p99 on the compared requests, at most (empty: not checked)")

    @model_validator(mode="after")
    def _sample_fits(self) -> RolloutPolicy:
        if self.compare_concurrency > self.compare_requests:
            raise ValueError("compare_concurrency is above compare_requests: lower it")
        return self
