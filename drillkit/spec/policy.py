"""The release-gate policy (``drills/policies/release.yaml``): what a run or suite must meet.

>>> policy = load_policy("drills/policies/release.yaml")   # doctest: +SKIP
>>> policy.budgets_for("node-crash").max_rto_s             # doctest: +SKIP
3.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from drillkit.spec.loader import Spec, load_spec
from drillkit.spec.safe import MAX_SECONDS, MAX_VALUE

Metric = Literal["rto_s", "ttd_s", "failed_requests", "error_budget_consumed", "rpo_s", "restore_time_s"]


class Budgets(Spec):
    """Limits for one drill; an unset limit is not checked."""

    max_rto_s: float | None = Field(None, gt=0, le=MAX_SECONDS, description="the most recovery time that passes, seconds")
    max_failed_requests: int | None = Field(None, ge=0, le=2**53, description="the most failed requests that pass")
    max_rpo_s: float | None = Field(None, ge=0, le=MAX_SECONDS, description="the most data loss (RPO) that passes, seconds (restore drills)")
    max_restore_time_s: float | None = Field(None, gt=0, le=MAX_SECONDS, description="the longest backup restore that passes, seconds")
    max_wrong_answers: int | None = Field(None, ge=0, le=2**53, description="release drills: wrong answers users may get from the release")
    max_time_to_rollback_s: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                                 description="release drills: rollout start to every node back and verified, seconds")
    max_time_to_notify_s: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                               description="alerting: the fault's start to the slowest page drillkit's receiver got, seconds")
    max_false_alarms: int | None = Field(None, ge=0, le=2**53, description="alerting: alerts that began firing before any fault")


class Regression(Spec):
    """No regression over the last ``runs`` runs of the same drill by more than ``max_increase_pct``."""

    runs: int = Field(5, ge=1, le=1000, description="how many earlier runs of the same drill to compare with (their median)")
    max_increase_pct: float = Field(20.0, ge=0, le=1e6, description="the largest allowed increase over that median, percent")
    min_runs: int = Field(3, ge=1, le=1000, description="fewer earlier runs than this is NO_DATA for the regression check")
    metrics: tuple[Metric, ...] = Field(("rto_s", "failed_requests"), description="what is compared")
    min_delta: dict[Metric, Annotated[float, Field(ge=0, le=MAX_VALUE)]] = Field(
        {"rto_s": 0.5, "failed_requests": 5}, description="increases up to this absolute amount are noise, never a regression"
    )
    allow_no_history: bool = Field(False, description="pass the check (instead of NO_DATA) when too few runs are recorded")


class Policy(Spec):
    """What a release must meet, per drill and overall."""

    defaults: Budgets = Field(Budgets(), description="limits for every drill")
    drills: dict[str, Budgets] = Field({}, description="limits for one drill by name, over the defaults")
    require_checks_pass: bool = Field(True, description="every check in the journal must PASS")
    require_slos_pass: bool = Field(True, description="every Prometheus SLO must PASS; a run without SLO results is NO_DATA")
    allow_no_data: bool = Field(False, description="NO_DATA passes the gate (never a good idea for a release)")
    regression: Regression | None = Field(None, description="compare with earlier runs in the history store")

    def budgets_for(self, drill: str) -> Budgets:
        """The defaults with the drill's own limits over them."""
        own = self.drills.get(drill)
        return self.defaults if own is None else self.defaults.model_copy(update=own.model_dump(exclude_unset=True))


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file."""
    return load_spec(path, Policy)
