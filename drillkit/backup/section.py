"""The journal's ``restore`` section and its checks, from the drill's timeline.

The data fault's activity output gives the failure time and the versions the region held;
the restore's output gives the backup used, its time, the restore's start and end (verified
serving) and the golden comparison. RPO = failure time - time of the backup that restored
and verified; versions lost = held before - restored (see /work/team/JOURNAL.md).

>>> restore_section([])   # no restore in this drill
"""

from __future__ import annotations

from typing import Any

from drillkit.measure import restore_time, rpo, versions_lost
from drillkit.spec import DrillSpec
from drillkit.verdict import Check, Verdict

DATA_FAULTS = frozenset({"destroy_model_repository", "corrupt_model_repository"})
RESTORE = "restore_model_repository"
CHECKS = ("rpo", "restore_time", "restored_answers")


def restore_section(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``restore`` section (None when the drill ran no restore)."""
    outputs = [(e.get("func"), e["output"]) for e in events if e.get("event") == "activity_ended" and isinstance(e.get("output"), dict)]
    fault = next((o for f, o in outputs if f in DATA_FAULTS), None)
    done = next((o for f, o in outputs if f == RESTORE), None)
    if done is None:
        return None
    failure_at = fault.get("injected_at") if fault else None
    base = {"region": done.get("region"), "restored": bool(done.get("restored")), "failure_at": failure_at,
            "refused": done.get("refused", [])}  # fmt: skip
    if not done.get("restored"):
        return {**base, "backup_id": None, "error": done.get("error"), "rpo_s": None, "restore_time_s": None}
    before = list(fault.get("versions", [])) if fault else []
    lost = versions_lost(before, done["versions"])
    return {
        **base,
        "backup_id": done["backup_id"], "backup_created_at": done["backup_created_at"],
        "restore_started_at": done["started_at"], "restore_verified_at": done["verified_at"], "restore_ended_at": done["ended_at"],
        "restore_time_s": restore_time(done["started_at"], done["ended_at"]), "rpo_s": rpo(failure_at, done["backup_created_at"]),
        "versions_before": before, "versions_restored": done["versions"], "versions_lost": lost, "versions_lost_count": len(lost),
        "serving_version": done.get("serving_version"), "golden_identical": bool(done["golden_identical"]),
        "golden_detail": done.get("golden_detail"), "bytes": done.get("bytes"),
    }  # fmt: skip


def restore_checks(spec: DrillSpec, restore: dict[str, Any] | None) -> list[Check]:
    """``rpo`` and ``restore_time`` against their budgets, ``restored_answers``; NO_DATA when a
    drill with a restore budget restored nothing (never a pass)."""
    budgets = {"rpo": spec.recovery.rpo_budget_s, "restore_time": spec.recovery.restore_budget_s}
    if restore is None:
        if all(b is None for b in budgets.values()):
            return []
        return [Check(name, Verdict.NO_DATA, "the drill restored nothing") for name in CHECKS]
    if not restore["restored"]:
        return [Check(name, Verdict.FAIL, f"no backup restored: {restore.get('error')}") for name in CHECKS]
    checks = [_budget("rpo", restore.get("rpo_s"), budgets["rpo"], _lost(restore)),
              _budget("restore_time", restore["restore_time_s"], budgets["restore_time"], " from start to verified serving")]  # fmt: skip
    identical = restore["golden_identical"]
    checks.append(Check("restored_answers", Verdict.PASS if identical else Verdict.FAIL, str(restore.get("golden_detail"))))
    return [c for c in checks if c is not None]


def _budget(name: str, value: float | None, budget: float | None, extra: str) -> Check | None:
    if budget is None:
        return None
    if value is None:
        return Check(name, Verdict.NO_DATA, "no failure time in the timeline to measure from")
    return Check(name, Verdict.PASS if value <= budget else Verdict.FAIL, f"{value:.2f} s (budget {budget:g} s){extra}")


def _lost(restore: dict[str, Any]) -> str:
    return f"; backup {restore['backup_id']}; {restore['versions_lost_count']} model versions lost {restore['versions_lost']}"
