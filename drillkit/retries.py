"""The gateway's retries during a drill: a pure function of the counters in the timeline.

Retries and redispatches are the early warning of a node going bad (users see nothing while the
gateway hides the fault), and their share of requests is what the retry budget bounds. The
timeline holds the gateway's cumulative counters at four phases (``GatewayCounted``); the
journal keeps the difference over the warm-up (the baseline) and over the fault (from the end
of the warm-up until the load stopped: the fault, its rollback and the cool-down).

>>> from drillkit.events import GatewayCounted
>>> events = [GatewayCounted(at=1, phase="warmed_up", requests=500, retries=0, redispatches=0),
...           GatewayCounted(at=9, phase="load_stopped", requests=1300, retries=40, redispatches=40)]
>>> gateway_retries(events, budget_percent=20.0).fault.ratio
0.05
"""

from __future__ import annotations

from collections.abc import Sequence

from drillkit.events import Event, GatewayCounted
from drillkit.units import Record


class RetrySpan(Record):
    """Counter differences between two phases of the drill."""

    since: str
    until: str
    requests: int
    retries: int
    redispatches: int
    ratio: float | None  # retries per request (None without requests)


class GatewayRetries(Record):
    """The journal's ``gateway``: retries over the warm-up and over the fault, against the budget."""

    warmup: RetrySpan | None
    fault: RetrySpan | None
    budget_percent: float  # 0: the gateway keeps no budget
    within_budget: bool | None  # the fault's retries per request <= the budget (None: no budget or no data)


def gateway_retries(events: Sequence[Event], *, budget_percent: float) -> GatewayRetries | None:
    """The retries of one drill (None when the gateway's counters were never read)."""
    counted = {e.phase: e for e in events if isinstance(e, GatewayCounted)}
    if not counted:
        return None
    fault = _span(counted, "warmed_up", "load_stopped")
    within = None
    if budget_percent > 0 and fault is not None and fault.ratio is not None:
        within = fault.ratio <= budget_percent / 100
    return GatewayRetries(warmup=_span(counted, "load_started", "warmed_up"), fault=fault,
                          budget_percent=budget_percent, within_budget=within)  # fmt: skip


def _span(counted: dict[str, GatewayCounted], since: str, until: str) -> RetrySpan | None:
    start, end = counted.get(since), counted.get(until)
    if start is None or end is None:
        return None
    # A gateway restarted in between (its counters start again at 0) gives no honest difference.
    if end.requests < start.requests or end.retries < start.retries or end.redispatches < start.redispatches:
        return None
    requests, retries = end.requests - start.requests, end.retries - start.retries
    return RetrySpan(since=since, until=until, requests=requests, retries=retries,
                     redispatches=end.redispatches - start.redispatches,
                     ratio=round(retries / requests, 4) if requests else None)  # fmt: skip


__all__ = ["GatewayRetries", "RetrySpan", "gateway_retries"]
