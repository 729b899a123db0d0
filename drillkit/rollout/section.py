"""The journal's ``rollout`` section, from the drill's timeline: the ``rollout_version``
action's report (steps, comparison, decision, times) and the audit of the answers users got
from the release. The checks on it are decided in :func:`drillkit.verdict.rollout_checks`.

>>> rollout_section([]) is None   # no release in this drill
True
"""

from __future__ import annotations

from pydantic import Field, ValidationError

from drillkit.events import ActivityEnded, AnswersAudited, Event, fault_outputs, invalid
from drillkit.rollout.report import AnswerAudit, RolloutReport
from drillkit.units import Record

ROLLOUT = "rollout_version"


class RolloutSection(Record):
    """A release in a drill: what the rollout did and what users got from it."""

    ran: bool = Field(description="the rollout action returned its report (False: it failed before any node moved)")
    error: str | None = Field(None, description="why it did not run")
    report: RolloutReport | None = None
    audit: AnswerAudit | None = None
    wrong_answers_served: int | None = Field(None, ge=0, description="answers from the release that broke the golden rules (None: not audited)")


def rollout_section(events: list[Event]) -> RolloutSection | None:
    """The ``rollout`` section (None when the drill released nothing)."""
    fault = next((f for _, f in fault_outputs(events) if f.fault == ROLLOUT), None)
    failed = next((e for e in events if isinstance(e, ActivityEnded) and e.func == ROLLOUT), None)
    if fault is None:
        if failed is None:
            return None
        return RolloutSection(ran=False, error=failed.error or f"the action ended {failed.status}")
    try:
        report = RolloutReport.model_validate(fault.detail.get("rollout"))
        audited = next((e for e in events if isinstance(e, AnswersAudited)), None)
        audit = AnswerAudit.model_validate(audited.model_dump(exclude={"event", "at"})) if audited else None
    except ValidationError as exc:
        raise invalid(f"timeline activity {ROLLOUT}", exc, "re-run the drill") from None
    return RolloutSection(ran=True, report=report, audit=audit, wrong_answers_served=audit.wrong if audit else None)
