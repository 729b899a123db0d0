"""Verdicts of Prometheus SLO checks: pure functions of the range data a drill stored.

A check's value is taken over the drill (``evaluate``: the worst step, the last, or the
mean); an empty result is NO_DATA, which fails unless the check says ``allow_no_data``.

>>> from drillkit.spec.slo import ErrorRatioSlo
>>> check = ErrorRatioSlo(name="errors", kind="error_ratio", max_ratio=0.01, window_s=10)
>>> judge_slo(check, [{"labels": {}, "points": [[1.0, 0.0], [2.0, 0.02]]}]).verdict
<Verdict.FAIL: 'FAIL'>
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from drillkit.observe.promql import objective
from drillkit.spec.slo import Evaluate, SloCheck
from drillkit.verdict import Verdict


@dataclass(frozen=True)
class SloResult:
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

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value, "source": "prometheus"}


def judge_slo(check: SloCheck, series: list[dict[str, Any]] | None, error: str | None = None) -> SloResult:
    """The verdict of ``check`` from its stored range ``series`` (None or ``error``: not measured)."""
    goal = objective(check)
    points = [(float(t), float(v)) for s in (series or []) for t, v in s["points"]]
    value, at = _decide(points, check.evaluate, pick_max=goal.pick_max)
    if value is None:
        verdict, detail = Verdict.NO_DATA, error or "the query returned no data during the drill"
    else:
        ok = goal.comparison.holds(value, goal.threshold)
        verdict = Verdict.PASS if ok else Verdict.FAIL
        detail = f"{check.evaluate.value} {value:.4g} {goal.unit} (objective {goal.comparison.value} {goal.threshold:g})"
    return SloResult(check.name, check.kind, goal.query, check.window_s, goal.comparison.value, goal.threshold, goal.unit,
                     check.evaluate.value, value, at, verdict, check.allow_no_data, detail)  # fmt: skip


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
