"""The journal's ``restore`` section, from the drill's timeline.

The data fault's :class:`~drillkit.events.FaultOutput` gives the failure time and the
versions the region held; the restore's output gives the backup used, its time, the
restore's start and end (verified serving) and the golden comparison. RPO = failure time -
time of the backup that restored and verified; versions lost = held before - restored. The
checks on it are decided in :func:`drillkit.verdict.restore_checks`.

>>> restore_section([]) is None   # no restore in this drill
True
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from drillkit.events import ActivityEnded, Event, fault_outputs, invalid
from drillkit.measure import restore_time, rpo, versions_lost
from drillkit.units import Record

DATA_FAULTS = frozenset({"destroy_model_repository", "corrupt_model_repository"})
RESTORE = "restore_model_repository"


class RestoreSection(Record):
    """What the drill's restore did; the times are unix seconds, the durations seconds."""

    region: str | None = None
    restored: bool
    failure_at: float | None = None
    refused: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    backup_id: str | None = None
    backup_created_at: float | None = None
    restore_started_at: float | None = None
    restore_verified_at: float | None = None
    restore_ended_at: float | None = None
    restore_time_s: float | None = None
    rpo_s: float | None = None
    versions_before: list[str] = Field(default_factory=list)
    versions_restored: list[str] = Field(default_factory=list)
    versions_lost: list[str] = Field(default_factory=list)
    versions_lost_count: int = 0
    serving_version: str | None = None
    golden_identical: bool = False
    golden_detail: str | None = None
    bytes: int | None = None


class _RestoreOutput(Record):
    """The restore action's output (``restored: false`` with ``error`` when none restored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # the restore report may grow fields
    restored: bool
    region: str | None = None
    error: str | None = None
    refused: list[dict[str, Any]] = Field(default_factory=list)
    backup_id: str | None = None
    backup_created_at: float | None = None
    started_at: float | None = None
    verified_at: float | None = None
    ended_at: float | None = None
    versions: list[str] = Field(default_factory=list)
    serving_version: str | None = None
    golden_identical: bool = False
    golden_detail: str | None = None
    bytes: int | None = None


def restore_section(events: list[Event]) -> RestoreSection | None:
    """The ``restore`` section (None when the drill ran no restore)."""
    done = next((e for e in events if isinstance(e, ActivityEnded) and e.func == RESTORE and isinstance(e.output, dict)), None)
    if done is None:
        return None
    try:
        out = _RestoreOutput.model_validate(done.output)
    except ValidationError as exc:
        raise invalid(f"timeline activity {done.name!r} ({RESTORE})", exc, "re-run the drill") from None
    fault = next((f for _, f in fault_outputs(events) if f.fault in DATA_FAULTS), None)
    failure_at = fault.injected_at if fault else None
    base = {"region": out.region, "restored": out.restored, "failure_at": failure_at, "refused": out.refused}
    if not out.restored or out.started_at is None or out.ended_at is None:
        return RestoreSection(**(base | {"restored": False}), error=out.error)
    before = [str(v) for v in (fault.detail.get("versions") or [])] if fault else []
    lost = versions_lost(before, out.versions)
    return RestoreSection(
        **base, backup_id=out.backup_id, backup_created_at=out.backup_created_at,
        restore_started_at=out.started_at, restore_verified_at=out.verified_at, restore_ended_at=out.ended_at,
        restore_time_s=restore_time(out.started_at, out.ended_at), rpo_s=rpo(failure_at, out.backup_created_at),
        versions_before=before, versions_restored=out.versions, versions_lost=lost, versions_lost_count=len(lost),
        serving_version=out.serving_version, golden_identical=out.golden_identical, golden_detail=out.golden_detail,
        bytes=out.bytes,
    )  # fmt: skip
