"""Verdicts of a drill and its exit code: pure functions of the measurements.

NO_DATA is never a pass unless the check opts in (``allow_no_data``): a gate that could not
measure fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from drillkit.errors import ExitCode
from drillkit.measure import Measurements
from drillkit.smoke import MIN_OVERLAP
from drillkit.spec import DrillSpec

if TYPE_CHECKING:
    from drillkit.observe.slo import SloResult


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NO_DATA = "NO_DATA"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    allowed_no_data: bool = False  # NO_DATA that the check's spec lets pass (``allow_no_data: true``)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS or (self.verdict is Verdict.NO_DATA and self.allowed_no_data)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict.value, "detail": self.detail, "allowed_no_data": self.allowed_no_data}


def judge(spec: DrillSpec, m: Measurements | None, canaries: list[dict[str, Any]], rollback_errors: list[str],
          capacity: dict[str, Any] | None = None, *, slos: Sequence[SloResult] = (),
          abort: dict[str, Any] | None = None) -> list[Check]:  # fmt: skip
    """Every check of the drill."""
    checks = [_rollback(rollback_errors)]
    if capacity is not None:
        verdict = Verdict.PASS if capacity.get("ok") else Verdict.FAIL
        checks.append(Check("capacity", verdict, str(capacity.get("reason"))))
    if abort is not None:
        checks.append(Check("abort", Verdict.FAIL, f"guard {abort['guard']} stopped the drill: {abort['reason']}"))
    checks += _recovery(spec, m, canaries)
    checks += [Check(f"slo:{s.name}", s.verdict, s.detail, s.allow_no_data) for s in slos]
    return checks


def _recovery(spec: DrillSpec, m: Measurements | None, canaries: list[dict[str, Any]]) -> list[Check]:
    if m is None or m.requests == 0:
        return [Check("recovery", Verdict.NO_DATA, "no requests were measured")]
    budget = spec.recovery.rto_budget_s
    rto_ok = math.isfinite(m.rto_s) and m.rto_s <= budget
    checks = [Check("recovery", Verdict.PASS if rto_ok else Verdict.FAIL, f"RTO {m.rto_s:.2f} s (budget {budget:g} s)")]
    limit = spec.fail_on.max_failed_requests
    if limit is not None:
        ok = m.failed_requests <= limit
        checks.append(Check("failed_requests", Verdict.PASS if ok else Verdict.FAIL, f"{m.failed_requests} failed (limit {limit})"))
    if spec.fail_on.wrong_answers:
        checks.append(_correctness(canaries))
    return checks


def _rollback(errors: list[str]) -> Check:
    if errors:
        return Check("rollback", Verdict.FAIL, "; ".join(errors) + " (run `drillkit recover`)")
    return Check("rollback", Verdict.PASS, "every fault was undone")


def _correctness(canaries: list[dict[str, Any]]) -> Check:
    answered = [c for c in canaries if c.get("error") is None]
    if not answered:
        return Check("correctness", Verdict.NO_DATA, "no golden probe was answered")
    wrong = [c for c in answered if float(c["overlap"]) < MIN_OVERLAP]
    if wrong:
        first = wrong[0]
        return Check("correctness", Verdict.FAIL, f"{len(wrong)} of {len(answered)} golden probes answered wrongly "
                     f"(first by {first.get('region')}/{first.get('node')}, overlap {first['overlap']:.2f})")  # fmt: skip
    return Check("correctness", Verdict.PASS, f"{len(answered)} golden probes answered correctly")


def exit_code(checks: list[Check], *, interrupted: bool) -> ExitCode:
    """The process exit code for a finished (or interrupted) drill."""
    if any(c.name == "rollback" and c.verdict is not Verdict.PASS for c in checks):
        return ExitCode.ROLLBACK_FAILED
    if interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.OK if all(c.passed for c in checks) else ExitCode.DRILL_FAILED
