"""Every PASS / FAIL / NO_DATA decision, in one place: pure functions of what was measured.

The drill's checks (:func:`judge`), the Prometheus SLOs (:func:`compare`), the restore
checks (:func:`restore_checks`), the gate's rules (:func:`within`, :func:`refuses`), a run's
overall verdict (:func:`run_verdict`) and the exit codes of a drill and a suite all decide
here, so one rule cannot drift between the journal, the gate and the report.

NO_DATA is never a pass unless the check opts in (``allow_no_data``): a gate that could not
measure fails.

>>> within(2.0, budget=5.0)
<Verdict.PASS: 'PASS'>
>>> within(None, budget=5.0)
<Verdict.NO_DATA: 'NO_DATA'>
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from drillkit.errors import ExitCode
from drillkit.spec.drill import JudgeLatency
from drillkit.units import Record, shown

if TYPE_CHECKING:
    from drillkit.alerting.section import AlertEpisode, AlertingSection
    from drillkit.backup.section import RestoreSection
    from drillkit.events import CanaryProbe
    from drillkit.knee import CapacitySection, RegionCurve
    from drillkit.measure import Measurements
    from drillkit.observe.guards import Abort
    from drillkit.observe.slo import SloResult
    from drillkit.rollout.section import RolloutSection
    from drillkit.scaling import ScalingSection
    from drillkit.spec import DrillSpec
    from drillkit.spec.drill import AlertExpectation
    from drillkit.spec.slo import Comparison


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NO_DATA = "NO_DATA"


class Check(Record):
    """One check of a drill and why it decided so."""

    name: str
    verdict: Verdict
    detail: str
    allowed_no_data: bool = False  # NO_DATA that the check's spec lets pass (``allow_no_data: true``)

    @property
    def passed(self) -> bool:
        return passes(self.verdict, allow_no_data=self.allowed_no_data)


def passes(verdict: Verdict, *, allow_no_data: bool = False) -> bool:
    """PASS passes; NO_DATA passes only where it is explicitly allowed; FAIL never."""
    return verdict is Verdict.PASS or (verdict is Verdict.NO_DATA and allow_no_data)


def within(value: float | None, *, budget: float) -> Verdict:
    """A measured value against its budget (None: not measured; inf: never, over any budget)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Verdict.NO_DATA
    return Verdict.PASS if value <= budget else Verdict.FAIL


def compare(value: float | None, comparison: Comparison, threshold: float) -> Verdict:
    """An SLO's value against its objective (None: the query returned nothing)."""
    if value is None:
        return Verdict.NO_DATA
    return Verdict.PASS if comparison.holds(value, threshold) else Verdict.FAIL


def judge(spec: DrillSpec, m: Measurements | None, canaries: Sequence[CanaryProbe], rollback_errors: list[str],
          capacity: dict[str, Any] | None = None, *, slos: Sequence[SloResult] = (),
          abort: Abort | None = None) -> list[Check]:  # fmt: skip
    """Every check of the drill but the restore ones (:func:`restore_checks`)."""
    checks = [_rollback(rollback_errors)]
    if capacity is not None:
        checks.append(Check(name="capacity", verdict=Verdict.PASS if capacity.get("ok") else Verdict.FAIL,
                            detail=str(capacity.get("reason"))))  # fmt: skip
    if abort is not None:
        checks.append(Check(name="abort", verdict=Verdict.FAIL, detail=f"guard {abort.guard} stopped the drill: {abort.reason}"))
    checks += _recovery(spec, m, canaries)
    checks += [Check(name=f"slo:{s.name}", verdict=s.verdict, detail=s.detail, allowed_no_data=s.allow_no_data) for s in slos]
    return checks


def _recovery(spec: DrillSpec, m: Measurements | None, canaries: Sequence[CanaryProbe]) -> list[Check]:
    if m is None and spec.capacity is not None:
        return [_correctness(canaries)] if spec.fail_on.wrong_answers else []  # a ramp is no fault: nothing to recover from
    if m is None or m.requests == 0:
        return [Check(name="recovery", verdict=Verdict.NO_DATA, detail="no requests were measured")]
    budget = spec.recovery.rto_budget_s
    at = f" (budget {budget:g} s, read every {m.resolution_s:g} s)"
    checks = [Check(name="recovery", verdict=within(m.rto_s, budget=budget), detail=f"RTO {_seconds(m.rto_s)}{at}")]
    checks.append(latency_check(m, p99_ms=spec.slo.p99_ms))
    limit = spec.fail_on.max_failed_requests
    if limit is not None:
        checks.append(Check(name="failed_requests", verdict=within(m.failed_requests, budget=limit),
                            detail=f"{m.failed_requests} failed (limit {limit})"))  # fmt: skip
    if spec.fail_on.wrong_answers:
        checks.append(_correctness(canaries))
    return checks


def latency_check(m: Measurements, *, p99_ms: float) -> Check:
    """The p99 objective over the span ``slo.judge_latency`` names: through the fault (every
    window) or after recovery (NO_DATA when the drill never recovered or the journal is old).

    >>> from drillkit.measure import Measurements
    >>> m = Measurements(requests=10, failed_requests=0, failed_during_incident=0, ttd_s=None, rto_s=0.0, outage_s=0,
    ...                  worst_p99_s=0.8, error_budget_consumed=0, failback_s=None, judge_latency="through_fault",
    ...                  latency_judged_from=0.0, worst_p99_judged_s=0.812)
    >>> latency_check(m, p99_ms=250).detail
    'worst p99 812 ms through the fault (objective <= 250 ms)'
    """
    objective = f"(objective <= {p99_ms:g} ms)"
    if m.judge_latency is None or m.worst_p99_judged_s is None:
        return _latency(Verdict.NO_DATA, f"not judged (a journal from before judge_latency) {objective}")
    after = m.judge_latency is JudgeLatency.AFTER_RECOVERY
    if after and m.latency_judged_from is None:
        return _latency(Verdict.NO_DATA, f"never recovered: nothing after recovery to judge {objective}")
    ms = m.worst_p99_judged_s * 1000
    span = f"after recovery at +{m.rto_s:.2f} s" if after else "through the fault"
    return _latency(within(ms, budget=p99_ms), f"worst p99 {round(ms, 1):g} ms {span} {objective}")


def _latency(verdict: Verdict, detail: str) -> Check:
    return Check(name="latency", verdict=verdict, detail=detail)


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.2f} s"


def _rollback(errors: list[str]) -> Check:
    if errors:
        return Check(name="rollback", verdict=Verdict.FAIL, detail="; ".join(errors) + " (run `drillkit recover`)")
    return Check(name="rollback", verdict=Verdict.PASS, detail="every fault was undone")


def _correctness(canaries: Sequence[CanaryProbe]) -> Check:
    answered = [c for c in canaries if c.error is None]
    if not answered:
        return Check(name="correctness", verdict=Verdict.NO_DATA, detail="no golden probe was answered")
    wrong = [c for c in answered if c.answered_wrongly]
    if wrong:
        first = wrong[0]
        how = first.wrong or f"top-k overlap {first.overlap:.2f}"
        detail = f"{len(wrong)} of {len(answered)} golden probes answered wrongly (first by {first.region}/{first.node}: {how})"
        return Check(name="correctness", verdict=Verdict.FAIL, detail=detail)
    return Check(name="correctness", verdict=Verdict.PASS, detail=f"{len(answered)} golden probes answered correctly")


RESTORE_CHECKS = ("rpo", "restore_time", "restored_answers")


def restore_checks(spec: DrillSpec, restore: RestoreSection | None) -> list[Check]:
    """``rpo`` and ``restore_time`` against their budgets, ``restored_answers``; NO_DATA when a
    drill with a restore budget restored nothing (never a pass)."""
    budgets = {"rpo": spec.recovery.rpo_budget_s, "restore_time": spec.recovery.restore_budget_s}
    if restore is None:
        if all(b is None for b in budgets.values()):
            return []
        return [Check(name=name, verdict=Verdict.NO_DATA, detail="the drill restored nothing") for name in RESTORE_CHECKS]
    if not restore.restored:
        return [Check(name=name, verdict=Verdict.FAIL, detail=f"no backup restored: {restore.error}") for name in RESTORE_CHECKS]
    lost = f"; backup {restore.backup_id}; {len(restore.versions_lost)} model versions lost {restore.versions_lost}"
    checks = [_budget("rpo", restore.rpo_s, budgets["rpo"], lost),
              _budget("restore_time", restore.restore_time_s, budgets["restore_time"], " from start to verified serving")]  # fmt: skip
    identical = Verdict.PASS if restore.golden_identical else Verdict.FAIL
    checks.append(Check(name="restored_answers", verdict=identical, detail=str(restore.golden_detail)))
    return [c for c in checks if c is not None]


def rollout_checks(spec: DrillSpec, rollout: RolloutSection | None) -> list[Check]:
    """How a release in the drill ended (``rollout``: rolled back when the drill expects a bad
    release, completed for a good one; a failed rollback fails any drill), the wrong answers
    users got from it, and the time to roll back, against the drill's bounds."""
    expected = spec.rollout
    if rollout is None:
        return [] if expected is None else [Check(name="rollout", verdict=Verdict.NO_DATA, detail="the drill rolled nothing out")]
    if not rollout.ran or rollout.report is None:
        return [Check(name="rollout", verdict=Verdict.FAIL, detail=f"the rollout did not run: {rollout.error}")]
    checks = [_outcome(rollout, expected.expect if expected else None)]
    if expected is not None and expected.max_wrong_answers is not None:
        checks.append(_wrong_answers(rollout, expected.max_wrong_answers))
    if expected is not None and expected.max_time_to_rollback_s is not None:
        value = rollout.report.time_to_rollback_s
        checks.append(Check(name="time_to_rollback", verdict=within(value, budget=expected.max_time_to_rollback_s),
                            detail=f"{shown(value)} from the rollout's start to every node back, verified "
                                   f"(budget {expected.max_time_to_rollback_s:g} s)"))  # fmt: skip
    return checks


def knee_checks(spec: DrillSpec, curves: CapacitySection | None) -> list[Check]:
    """``knee:<region>`` for each ramped region: PASS with the knee (at least, when the load
    generator limited the ramp), NO_DATA when not even the first step held the SLO, FAIL below
    the drill's ``capacity.min_knee_rps``."""
    if curves is None:
        return [] if spec.capacity is None else [Check(name="knee", verdict=Verdict.NO_DATA, detail="no region was ramped")]
    minimum = spec.capacity.min_knee_rps if spec.capacity is not None else {}
    return [_knee(c, minimum.get(c.region)) for c in curves.regions]


def _knee(c: RegionCurve, minimum: float | None) -> Check:
    name = f"knee:{c.region}"
    if c.knee_rps is None:
        return Check(name=name, verdict=Verdict.NO_DATA, detail=f"the first step ({c.steps[0].offered_rps:g} req/s) already broke the "
                                                                  "SLO or the generator could not keep it" if c.steps else "no step")  # fmt: skip
    stop = next((s for s in c.steps if not s.within_slo), None)
    why = {"slo": f"next step {stop.offered_rps:g} req/s: p99 {stop.p99_ms} ms, errors {stop.error_ratio:.1%}, achieved {stop.achieved_rps:g}"
                  if stop else "", "generator": "at least: the load generator fell behind on the next step",
           "ramp": "at least: the ramp ended", "none": ""}[c.limited_by]  # fmt: skip
    verdict = Verdict.PASS if minimum is None or c.knee_rps >= minimum else Verdict.FAIL
    floor = f" (at least {minimum:g} required)" if minimum is not None else ""
    return Check(name=name, verdict=verdict, detail=f"knee {c.knee_rps:g} req/s{floor}; {why}")


def scaling_checks(spec: DrillSpec, scaling: ScalingSection | None) -> list[Check]:
    """``scale_out`` (one happened, when the drill expects one) and ``time_to_scale`` (the
    slowest, against its budget)."""
    expected = spec.scaling
    if expected is None:
        return []
    outs = scaling.scale_outs if scaling is not None else []
    checks = []
    if expected.expect_scale_out:
        refused = f"; refused: {', '.join(scaling.refused)}" if scaling is not None and scaling.refused else ""
        detail = ", ".join(f"{o.region} {o.from_nodes}->{o.to_nodes} at p99 {o.trigger_p99_ms or 0:.0f} ms" for o in outs)
        checks.append(Check(name="scale_out", verdict=Verdict.PASS if outs else Verdict.FAIL,
                            detail=detail or f"the autoscaler never scaled out{refused}"))  # fmt: skip
    if expected.max_time_to_scale_s is not None and not outs and not expected.expect_scale_out:
        # The budget bounds every scale-out that happens; a drill that only measures one
        # (``expect_scale_out: false``) and needed none has nothing to time, and that is not a gap.
        checks.append(Check(name="time_to_scale", verdict=Verdict.PASS,
                            detail=f"no scale-out was needed or required (budget {expected.max_time_to_scale_s:g} s)"))  # fmt: skip
    elif expected.max_time_to_scale_s is not None:
        slowest = max((o.time_to_scale_s for o in outs), default=None)
        checks.append(Check(name="time_to_scale", verdict=within(slowest, budget=expected.max_time_to_scale_s),
                            detail=f"slowest scale-out {shown(slowest)} to serving (budget {expected.max_time_to_scale_s:g} s)"))  # fmt: skip
    return checks


def alert_checks(spec: DrillSpec, section: AlertingSection | None, *, fault_start: float | None) -> list[Check]:
    """One check per alert the drill demands (``alerts:``): NO_DATA when the alerting path was
    not reachable, or a demand has nothing to be timed from (no fault, no rollback, no receiver)."""
    if not spec.alerts:
        return []
    if section is None or not section.reachable:
        why = "no alerting path was watched" if section is None else "; ".join(section.unreadable[:2]) or "never read"
        return [Check(name=a.key, verdict=Verdict.NO_DATA, detail=f"the alerting path was not reachable ({why})") for a in spec.alerts]
    return [_alert(a, [e for e in section.episodes if e.matches(a.alert, a.labels)], section, fault_start) for a in spec.alerts]


def _alert(a: AlertExpectation, mine: list[AlertEpisode], section: AlertingSection, fault_start: float | None) -> Check:
    def at(t: float | None) -> str:
        if t is None or fault_start is None:
            return "while the drill ran"
        return f"{t - fault_start:+.1f} s from the fault" if t >= fault_start else f"{fault_start - t:.1f} s before the fault"

    if a.must_not_fire:
        fired = [e for e in mine if e.firing_at is not None or e.notified_at is not None]
        if fired:
            first = fired[0]
            return Check(name=a.key, verdict=Verdict.FAIL,
                         detail=f"must not fire, but {first.shown} fired {at(first.firing_at or first.notified_at)}")  # fmt: skip
        return Check(name=a.key, verdict=Verdict.PASS, detail="never fired")
    if fault_start is None:
        return Check(name=a.key, verdict=Verdict.NO_DATA, detail="no fault was injected to time the alert from")
    early = next((e for e in mine if (e.firing_at or e.notified_at or math.inf) < fault_start), None)
    if early is not None:
        return Check(name=a.key, verdict=Verdict.FAIL, detail=f"{early.shown} was already firing {at(early.firing_at or early.notified_at)}: "
                                                              "a page already out says nothing about this fault")  # fmt: skip
    episode = next((e for e in mine if e.firing_at is not None or e.notified_at is not None), None)
    if episode is None:
        watched = f" (watched until {section.watched_until - fault_start:+.0f} s from the fault)" if section.watched_until else ""
        return Check(name=a.key, verdict=Verdict.FAIL, detail=f"never fired{watched}")
    parts = [_demand("fired", episode.time_to_fire_s if episode else None, a.must_fire_within_s, "from the fault")]
    if a.must_notify_within_s is not None and not section.receiver:
        parts.append((Verdict.NO_DATA, "notification not timed: no receiver was watched"))
    else:
        parts.append(_demand("notified", episode.time_to_notify_s if episode else None, a.must_notify_within_s, "from the fault"))
    if a.must_resolve_within_s is not None and section.rollback_started is None:
        parts.append((Verdict.NO_DATA, "resolution not timed: no rollback ran"))
    else:
        parts.append(_demand("resolved", episode.time_to_resolve_s if episode else None, a.must_resolve_within_s,
                             "after the rollback began"))  # fmt: skip
    parts = [p for p in parts if p is not None]
    verdicts = [v for v, _ in parts]
    verdict = Verdict.FAIL if Verdict.FAIL in verdicts else Verdict.NO_DATA if Verdict.NO_DATA in verdicts else Verdict.PASS
    detail = "; ".join(d for _, d in parts)
    return Check(name=a.key, verdict=verdict, detail=detail)


def _demand(what: str, value: float | None, budget: float | None, origin: str) -> tuple[Verdict, str] | None:
    """One timed demand (None: not demanded); not happening at all fails it."""
    if budget is None:
        return None
    if value is None:
        return Verdict.FAIL, f"not {what} (budget {budget:g} s {origin})"
    verdict = Verdict.PASS if value <= budget else Verdict.FAIL
    when = f"{value:.1f} s {origin}" if value >= 0 else f"{-value:.1f} s {origin.replace('after', 'before').replace('from', 'before')}"
    return verdict, f"{what} {when} (budget {budget:g} s)"


def _outcome(rollout: RolloutSection, expect: str | None) -> Check:
    r = rollout.report
    assert r is not None
    why = "; ".join(r.reasons) or "every bound held"
    if r.outcome == "rollback_failed":
        failed = [f"{s.node}: {s.error}" for s in r.steps if s.role == "rollback" and s.error]
        return Check(name="rollout", verdict=Verdict.FAIL, detail=f"the rollback failed ({'; '.join(failed)}); `drillkit recover` retries it")
    if expect is not None and r.outcome != expect:
        happened = "it rolled out to every node" if r.outcome == "completed" else f"it was rolled back ({why})"
        return Check(name="rollout", verdict=Verdict.FAIL, detail=f"{r.plan.version} should have been {expect.replace('_', ' ')}: {happened}")
    detected = f", detected {shown(r.time_to_detect_s)} after the canary's first request" if r.time_to_detect_s is not None else ""
    return Check(name="rollout", verdict=Verdict.PASS, detail=f"{r.plan.version} {(r.outcome or '').replace('_', ' ')}: {why}{detected}")


def _wrong_answers(rollout: RolloutSection, budget: int) -> Check:
    audit = rollout.audit
    if audit is None or rollout.wrong_answers_served is None:
        return Check(name="wrong_answers", verdict=Verdict.NO_DATA, detail="the answers users got from the release were not audited")
    verdict = Verdict.PASS if rollout.wrong_answers_served <= budget else Verdict.FAIL
    unaudited = f"; {audit.unaudited} served but not audited" if audit.unaudited else ""
    return Check(name="wrong_answers", verdict=verdict,
                 detail=f"{rollout.wrong_answers_served} wrong of {audit.audited} answers from the release (budget {budget}){unaudited}")  # fmt: skip


def _budget(name: str, value: float | None, budget: float | None, extra: str) -> Check | None:
    if budget is None:
        return None
    if value is None:
        return Check(name=name, verdict=Verdict.NO_DATA, detail="no failure time in the timeline to measure from")
    return Check(name=name, verdict=within(value, budget=budget), detail=f"{value:.2f} s (budget {budget:g} s){extra}")


def regression(value: float, median: float, *, max_increase_pct: float, min_delta: float) -> tuple[Verdict, float]:
    """A value against the median of earlier runs, and its increase in percent: it regresses
    when it exceeds the median by more than ``max_increase_pct`` *and* by more than
    ``min_delta`` (so 0 -> 1 failed request is no regression)."""
    increase = value - median
    pct = (increase / median * 100) if median > 0 else (math.inf if increase > 0 else 0.0)
    return (Verdict.FAIL if increase > min_delta and pct > max_increase_pct else Verdict.PASS), pct


def refuses(verdict: Verdict, *, allow_no_data: bool) -> bool:
    """Whether a gate rule's verdict refuses the release."""
    return not passes(verdict, allow_no_data=allow_no_data)


def run_verdict(checks: Iterable[Check], exit_code: int) -> Verdict:
    """A run's verdict: FAIL when a check failed or the run did not exit cleanly; NO_DATA when
    a check had none (and did not opt in) or there were no checks."""
    verdicts = [c for c in checks]
    if any(c.verdict is Verdict.FAIL for c in verdicts):
        return Verdict.FAIL
    if not verdicts or any(c.verdict is Verdict.NO_DATA and not c.allowed_no_data for c in verdicts):
        return Verdict.NO_DATA
    return Verdict.PASS if exit_code == ExitCode.OK else Verdict.FAIL


def exit_code(checks: list[Check], *, interrupted: bool) -> ExitCode:
    """The process exit code for a finished (or interrupted) drill."""
    if any(c.name == "rollback" and c.verdict is not Verdict.PASS for c in checks):
        return ExitCode.ROLLBACK_FAILED
    if interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.OK if all(c.passed for c in checks) else ExitCode.DRILL_FAILED


def suite_exit_code(codes: Iterable[int], *, failed: bool, skipped: bool, errored: bool) -> ExitCode:
    """A suite's exit code over its drills: ROLLBACK_FAILED > INTERRUPTED > DRILL_FAILED
    (a drill failed or was skipped) > ENVIRONMENT (a drill errored on every try) > OK."""
    seen = set(codes)
    for code in (ExitCode.ROLLBACK_FAILED, ExitCode.INTERRUPTED):
        if code in seen:
            return code
    if failed or skipped:
        return ExitCode.DRILL_FAILED
    return ExitCode.ENVIRONMENT if errored else ExitCode.OK
