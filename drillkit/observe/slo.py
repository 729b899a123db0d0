"""Verdicts of Prometheus SLO checks: pure functions of the range data a drill stored.

A check's value is taken over the drill (``evaluate``: the worst step, the last, or the
mean), or over the points at or after ``since`` (a latency SLO judged after recovery, or from
the capacity pre-check's end); an empty result is NO_DATA, which fails unless the check says
``allow_no_data``.

>>> from drillkit.spec.slo import ErrorRatioSlo
>>> check = ErrorRatioSlo(name="errors", kind="error_ratio", max_ratio=0.01, window_s=10)
>>> judge_slo(check, [{"labels": {}, "points": [[1.0, 0.0], [2.0, 0.02]]}]).verdict
<Verdict.FAIL: 'FAIL'>
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Literal

from drillkit.observe.promql import objective
from drillkit.spec.slo import Evaluate, SloCheck
from drillkit.units import Record, Seconds
from drillkit.verdict import Verdict, compare


class SloResult(Record):
    """One check's verdict with the exact query, window and value behind it."""

    name: str
    kind: str
    query: str
    window_s: float
    comparison: str
    threshold: float
    unit: str
    evaluate: str
    value: float | None
    at: float | None  # unix time of the deciding step (worst or last)
    verdict: Verdict
    allow_no_data: bool
    detail: str
    source: Literal["prometheus"] = "prometheus"
    since: Seconds | None = None  # unix time from which points were judged ("never": never recovered); None: all


def judge_slo(check: SloCheck, series: list[dict[str, Any]] | None, error: str | None = None, *,
              since: float | None = None, judged: str = "from recovery on") -> SloResult:  # fmt: skip
    """The verdict of ``check`` from its stored range ``series`` (None or ``error``: not measured),
    judging only the points at or after ``since`` when it is given (inf: none of them); ``judged``
    says from where, in the verdict's detail."""
    goal = objective(check)
    points = [(float(t), float(v)) for s in (series or []) for t, v in s["points"]]
    if since is not None:
        points = [(t, v) for t, v in points if t >= since]
    value, at = _decide(points, check.evaluate, pick_max=goal.pick_max)
    verdict = compare(value, goal.comparison, goal.threshold)
    if value is None:
        detail = error or _no_data(since, judged)
    else:
        detail = f"{check.evaluate.value} {value:.4g} {goal.unit} (objective {goal.comparison.value} {goal.threshold:g})"
        detail += "" if since is None else f" {judged}"
    return SloResult(name=check.name, kind=check.kind, query=goal.query, window_s=check.window_s,
                     comparison=goal.comparison.value, threshold=goal.threshold, unit=goal.unit,
                     evaluate=check.evaluate.value, value=value, at=at, verdict=verdict,
                     allow_no_data=check.allow_no_data, detail=detail, since=since)  # fmt: skip


def _no_data(since: float | None, judged: str) -> str:
    if since is None:
        return "the query returned no data during the drill"
    if math.isinf(since):
        return "never recovered: nothing after recovery to judge"
    return f"the query returned no data {judged}"


def _decide(points: list[tuple[float, float]], how: Evaluate, *, pick_max: bool) -> tuple[float | None, float | None]:
    if not points:
        return None, None
    if how is Evaluate.MEAN:
        return statistics.fmean(v for _, v in points), None
    if how is Evaluate.LAST:
        t, v = max(points)
        return v, t
    t, v = max(points, key=lambda p: p[1]) if pick_max else min(points, key=lambda p: p[1])
    return v, t
