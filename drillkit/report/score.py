"""The resilience score of a suite: one number from 0 to 100, shown on the summary page.

Weighting (documented in the README too):

- 50 points: the share of drills that passed (a drill that errored counts as not passed);
- 30 points: recovery against budget, the mean over drills of
  ``clamp(1 - RTO / (2 * rto_budget), 0, 1)``: an instant recovery scores 1, a recovery
  exactly at the budget 0.5, twice the budget or never 0;
- 20 points: error budget left, the mean over drills of ``clamp(1 - consumed, 0, 1)``
  where ``consumed`` is the journal's ``error_budget_consumed`` (1.0: the whole budget spent).

A drill without measurements (it errored, or nothing was injected) scores 0 in both the
recovery and the error-budget parts. An empty suite scores 0.

>>> resilience_score([DrillScore(passed=True, rto_s=1.0, rto_budget_s=2.0, budget_consumed=0.5)])
82.5
"""

from __future__ import annotations

import math
from typing import NamedTuple

WEIGHT_PASSED, WEIGHT_RTO, WEIGHT_BUDGET = 50.0, 30.0, 20.0


class DrillScore(NamedTuple):
    """What the score needs from one drill (``None``: not measured)."""

    passed: bool
    rto_s: float | None  # inf: never recovered
    rto_budget_s: float | None
    budget_consumed: float | None


def resilience_score(drills: list[DrillScore]) -> float:
    """0..100, rounded to one decimal; see the module docstring for the weighting."""
    if not drills:
        return 0.0
    passed = sum(d.passed for d in drills) / len(drills)
    rto = sum(_rto_part(d) for d in drills) / len(drills)
    budget = sum(_budget_part(d) for d in drills) / len(drills)
    return round(WEIGHT_PASSED * passed + WEIGHT_RTO * rto + WEIGHT_BUDGET * budget, 1)


def _rto_part(d: DrillScore) -> float:
    if d.rto_s is None or not d.rto_budget_s or math.isinf(d.rto_s):
        return 0.0
    return _clamp(1 - d.rto_s / (2 * d.rto_budget_s))


def _budget_part(d: DrillScore) -> float:
    return 0.0 if d.budget_consumed is None else _clamp(1 - d.budget_consumed)


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))
