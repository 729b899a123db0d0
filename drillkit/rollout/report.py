"""What a rollout did, as records: the journal's ``rollout`` section is made of these (no
platform, client or trace code here: reports and gates read them).

>>> RolloutReport.model_json_schema()["title"]
'RolloutReport'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from drillkit.spec.rollout import RolloutPolicy
from drillkit.units import Record

Outcome = Literal["completed", "rolled_back", "rollback_failed"]


class Comparison(Record):
    """What the canary answered, next to an old node, on the same requests."""

    reference: str = Field(description="the node on the old version")
    canary: str = Field(description="the node on the new version")
    started_at: float
    ended_at: float
    requests: int = Field(ge=0)
    answered: int = Field(ge=0, description="requests both sides answered (the ones judged for wrong answers)")
    wrong: int = Field(ge=0, description="canary answers that break the old version's golden rules")
    first_wrong: str | None = None
    errors_old: int = Field(ge=0)
    errors_new: int = Field(ge=0)
    first_error_new: str | None = None
    p50_ms_old: float | None = None
    p99_ms_old: float | None = None
    p50_ms_new: float | None = None
    p99_ms_new: float | None = None
    # The tail the bounds judge: the p99 needs about 1,000 requests; a smaller sample's p99 is
    # its one or two slowest pairs, which a busy machine (or a canary's first cold request)
    # flips. So the tail judged is the quantile with ten requests above it (p90 of 100).
    tail_quantile: float | None = Field(None, description="the tail quantile judged (ten requests above it, at most 0.99)")
    tail_ms_old: float | None = None
    tail_ms_new: float | None = None

    @property
    def wrong_share(self) -> float:
        return self.wrong / self.answered if self.answered else 0.0

    @property
    def error_share_new(self) -> float:
        return self.errors_new / self.requests if self.requests else 0.0


class Step(Record):
    """One node moved onto a version (``error``: it could not serve it)."""

    node: str
    version: str
    role: Literal["canary", "upgrade", "rollback"]
    requested_at: float
    drained_at: float | None = None
    started_at: float | None = None
    verified_at: float | None = None
    serving_at: float | None = None
    error: str | None = None


class RolloutPlan(Record):
    """Which version replaces which, in what order, judged against which node."""

    version: str
    previous: str
    order: list[str] = Field(min_length=1, description="nodes in the order they move; the first is the canary")
    reference: str = Field(description="a node left on the previous version until the canary is judged")

    @property
    def canary(self) -> str:
        return self.order[0]


class RolloutReport(Record):
    """Everything a rollout did, as it stands: steps, the canary's comparison, the decision."""

    plan: RolloutPlan
    policy: RolloutPolicy
    started_at: float
    steps: list[Step] = Field(default_factory=list)
    comparison: Comparison | None = None
    decision: Literal["proceed", "roll_back"] | None = None
    reasons: list[str] = Field(default_factory=list)
    decided_at: float | None = None
    outcome: Outcome | None = None
    ended_at: float | None = None
    time_to_detect_s: float | None = Field(None, description="from the canary's first live request to the rollback decision")
    time_to_rollback_s: float | None = Field(None, description="from the rollout's start to every node back on the previous version, verified")

    @property
    def first_served_at(self) -> float | None:
        """When users could first get the new version (the canary back in the gateway)."""
        return next((s.serving_at for s in self.steps if s.role == "canary"), None)


class AnswerAudit(Record):
    """What users got from other versions than the reference, judged one answer at a time."""

    reference_version: str
    reference_node: str
    served: dict[str, int] = Field(default_factory=dict, description="ok answers per other version, from the request log")
    audited: int = Field(0, ge=0, description="kept answers judged against the reference node")
    wrong: int = Field(0, ge=0, description="audited answers that break the golden rules")
    first_wrong: str | None = None
    unaudited: int = Field(0, ge=0, description="answers served but not kept (over the bound) or not re-sent")
    reference_errors: int = Field(0, ge=0, description="re-sent requests the reference node failed (not judged)")
    started_at: float
    ended_at: float


ROLLOUT_JOURNAL = "rollout.json"
ROLLOUT_SCHEMA = 1


class RolloutJournal(Record):
    """``drillkit rollout``'s own journal (``reports/rollout-<version>-<time>/rollout.json``),
    rewritten after every step so that a crash leaves what was done."""

    schema_version: Literal[1] = ROLLOUT_SCHEMA
    environment: str
    report: RolloutReport


def write_rollout_journal(folder: Path, journal: RolloutJournal) -> Path:
    """Write ``rollout.json`` atomically (a reader sees the old steps or the new, never half)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ROLLOUT_JOURNAL
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(journal.model_dump_json(indent=1))
    os.replace(tmp, path)
    return path
