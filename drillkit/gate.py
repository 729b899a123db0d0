"""The release gate: a pure function of a run or suite folder, a policy and the history.

``drillkit gate RUN_OR_SUITE_DIR`` checks every run against the policy and prints each
reason; it exits 0 when every reason passes and 1 (``DRILL_FAILED``) otherwise. The rules
per run: the drill completed; every journal check PASS; RTO and failed requests within the
drill's budgets; every Prometheus SLO PASS; RPO and restore time within budget (restore
drills only: a drill with a data fault or a restore budget; a restore drill that restored
nothing is NO_DATA); wrong answers served and time to roll back within budget (release
drills only); the slowest page and the false alarms within budget (drills that watched
alerts); no regression against the median of the last N runs of the same drill in the
history store. NO_DATA (a rule that could not be evaluated) fails unless the policy opts in.

>>> result = gate(Path("reports/nightly-20260101-030000"), load_policy("drills/policies/release.yaml"))   # doctest: +SKIP
>>> result.passed, [r.detail for r in result.failures]                                                     # doctest: +SKIP
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from drillkit.errors import SpecError
from drillkit.report.history import History, row_of
from drillkit.report.run import JOURNAL_NAME, RunFolder, load_run
from drillkit.report.suite_report import read_summary
from drillkit.spec.policy import Budgets, Policy, Regression
from drillkit.units import NEVER
from drillkit.verdict import Verdict, refuses, regression, within


@dataclass(frozen=True)
class Reason:
    """One rule applied to one run; ``budget`` and ``measured`` when the rule has numbers."""

    drill: str
    rule: str
    verdict: Verdict
    detail: str
    budget: float | None = None
    measured: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self) | {"verdict": self.verdict.value}
        return {k: (NEVER if isinstance(v, float) and math.isinf(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class GateResult:
    reasons: list[Reason]
    allow_no_data: bool

    @property
    def failures(self) -> list[Reason]:
        """The reasons that refuse the release."""
        return [r for r in self.reasons if refuses(r.verdict, allow_no_data=self.allow_no_data)]

    @property
    def passed(self) -> bool:
        return not self.failures


def gate(target: Path, policy: Policy, *, history: History | None = None) -> GateResult:
    """Apply ``policy`` to the run folder or suite folder ``target``."""
    runs, missing = run_folders(target)
    reasons = [Reason(name, "completed", Verdict.FAIL, detail) for name, detail in missing]
    for run in runs:
        reasons += check_run(run, policy, history)
    if not runs and not missing:
        reasons.append(Reason("-", "runs", Verdict.NO_DATA, f"no run folder in {target}"))
    return GateResult(reasons, policy.allow_no_data)


def run_folders(target: Path) -> tuple[list[RunFolder], list[tuple[str, str]]]:
    """The runs of a run folder or a suite folder, and the suite's drills that left no journal."""
    if (target / JOURNAL_NAME).exists():
        return [load_run(target)], []
    summary = target / "summary.json"
    if not summary.exists():
        raise SpecError(str(target), "-", "neither a run folder (journal.json) nor a suite folder (summary.json)",
                        "pass reports/<drill>-<time>/ or reports/<suite>-<time>/")  # fmt: skip
    runs, missing = [], []
    for drill in read_summary(summary)["drills"]:
        run_dir = drill.get("run_dir")
        if isinstance(run_dir, str) and _inside(target, run_dir) and (target / run_dir / JOURNAL_NAME).exists():
            runs.append(load_run(target / run_dir))
        else:
            missing.append((str(drill.get("name", "?")), f"{drill.get('name')} did not complete: {drill.get('error') or drill.get('status')}"))
    return runs, missing


def _inside(folder: Path, name: str) -> bool:
    """A run folder named by a summary must sit inside the suite folder (no ``..``, no absolute path)."""
    return (folder / name).resolve().is_relative_to(folder.resolve())


def check_run(run: RunFolder, policy: Policy, history: History | None) -> list[Reason]:
    """Every rule of the policy applied to one run."""
    reasons = [_completed(run)]
    if policy.require_checks_pass:
        reasons += [Reason(run.name, f"check {c.name}", c.verdict if not (c.verdict is Verdict.NO_DATA and c.allowed_no_data)
                           else Verdict.PASS, c.detail) for c in run.journal.checks]  # fmt: skip
    budgets = policy.budgets_for(run.name)
    reasons += _recovery(run, budgets)
    if policy.require_slos_pass:
        reasons += _slos(run)
    if run.journal.is_restore_drill:  # RPO budgets mean nothing for a drill that destroys no data
        reasons += _restore(run, budgets)
    if run.journal.rollout is not None:  # nor do a release's for a drill that released nothing
        reasons += _release(run, budgets)
    if run.journal.alerting is not None:  # nor alerting's for a drill that watched no alerts
        reasons += _alerting(run, budgets)
    if policy.regression is not None:
        reasons += regression_reasons(run, policy.regression, history)
    return reasons


def _completed(run: RunFolder) -> Reason:
    if run.journal.interrupted:
        return Reason(run.name, "completed", Verdict.FAIL, "the drill was interrupted")
    return Reason(run.name, "completed", Verdict.PASS, f"exit code {run.journal.exit_code}")


def _recovery(run: RunFolder, budgets: Budgets) -> list[Reason]:
    m = run.journal.measurements
    return [r for r in (
        _limit(run.name, "rto", m.rto_s if m else None, budgets.max_rto_s, "RTO", "s"),
        _limit(run.name, "failed_requests", m.failed_requests if m else None, budgets.max_failed_requests,
               "failed requests", ""),
    ) if r is not None]  # fmt: skip


def _limit(drill: str, rule: str, value: float | None, budget: float | None, what: str, unit: str) -> Reason | None:
    if budget is None:
        return None
    if value is None:
        return Reason(drill, rule, Verdict.NO_DATA, f"{what}: not measured (budget {budget:g}{unit})", budget, None)
    shown = NEVER if math.isinf(value) else f"{value:g}{unit}"
    verdict = within(value, budget=budget)
    return Reason(drill, rule, verdict, f"{what} {shown} ({'within' if verdict is Verdict.PASS else 'over'} the budget {budget:g}{unit})",
                  budget, value)  # fmt: skip


def _slos(run: RunFolder) -> list[Reason]:
    slos = run.journal.slos
    if not slos:
        return [Reason(run.name, "slos", Verdict.NO_DATA, "the run has no Prometheus SLO results")]
    out = []
    for s in slos:
        verdict, detail = s.verdict, f"{s.name}: {s.value} {s.comparison} {s.threshold:g} ({s.query})"
        if verdict is Verdict.NO_DATA and s.allow_no_data:
            verdict, detail = Verdict.PASS, detail + "; no data, allowed by the SLO"
        out.append(Reason(run.name, f"slo {s.name}", verdict, detail, s.threshold, s.value))
    return out


def _restore(run: RunFolder, budgets: Budgets) -> list[Reason]:
    """RPO and restore time of a restore drill; NO_DATA when it restored nothing."""
    r = run.journal.restore
    return [x for x in (
        _limit(run.name, "rpo", r.rpo_s if r else None, budgets.max_rpo_s, "RPO", "s"),
        _limit(run.name, "restore_time", r.restore_time_s if r else None, budgets.max_restore_time_s, "restore time", "s"),
    ) if x is not None]  # fmt: skip


def _release(run: RunFolder, budgets: Budgets) -> list[Reason]:
    """Wrong answers users got from a release, and its time to roll back; NO_DATA when the
    answers were not audited or the release was not rolled back (no time to measure)."""
    section = run.journal.rollout
    assert section is not None
    report = section.report
    return [x for x in (
        _limit(run.name, "wrong_answers", section.wrong_answers_served, budgets.max_wrong_answers, "wrong answers served", ""),
        _limit(run.name, "time_to_rollback", report.time_to_rollback_s if report else None, budgets.max_time_to_rollback_s,
               "time to roll back", "s"),
    ) if x is not None]  # fmt: skip


def _alerting(run: RunFolder, budgets: Budgets) -> list[Reason]:
    """The slowest page after the fault, and the false alarms; NO_DATA when no page came."""
    section = run.journal.alerting
    assert section is not None
    paged = [e.time_to_notify_s for e in section.episodes if e.time_to_notify_s is not None and e.time_to_notify_s >= 0]
    return [x for x in (
        _limit(run.name, "time_to_notify", max(paged, default=None), budgets.max_time_to_notify_s, "slowest page", "s"),
        _limit(run.name, "false_alarms", len(section.false_alarms), budgets.max_false_alarms, "false alarms", ""),
    ) if x is not None]  # fmt: skip


def regression_reasons(run: RunFolder, policy: Regression, history: History | None) -> list[Reason]:
    """One reason per metric: the run against the median of the last N earlier runs of its drill.

    A value regresses when it exceeds the median by more than ``max_increase_pct`` percent *and*
    by more than the metric's ``min_delta`` (so 0 -> 1 failed request is no regression).
    """
    current = row_of(run)
    earlier = [] if history is None else [
        r for r in history.rows(drill=run.name, before=current.at, last=policy.runs + 1) if r.run_dir != current.run_dir
    ][-policy.runs :]  # fmt: skip
    reasons = []
    for metric in policy.metrics:
        values = [float(v) for r in earlier if (v := getattr(r, metric)) is not None]
        value = getattr(current, metric)
        if len(values) < policy.min_runs or value is None:
            verdict = Verdict.PASS if policy.allow_no_history else Verdict.NO_DATA
            reasons.append(Reason(run.name, f"regression {metric}", verdict,
                                  f"{len(values)} earlier runs of {run.name} with {metric} (need {policy.min_runs})"))  # fmt: skip
            continue
        reasons.append(_compare(run.name, metric, float(value), values, policy))
    return reasons


def _compare(drill: str, metric: str, value: float, values: list[float], policy: Regression) -> Reason:
    median = statistics.median(values)
    verdict, pct = regression(value, median, max_increase_pct=policy.max_increase_pct,
                              min_delta=policy.min_delta.get(metric, 0.0))  # type: ignore[call-overload]
    shown = "+inf" if math.isinf(pct) else f"{pct:+.1f}%"
    detail = (f"{metric} {value:g} vs median {median:g} of the last {len(values)} runs of {drill} "
              f"({shown}, limit +{policy.max_increase_pct:g}%)")  # fmt: skip
    return Reason(drill, f"regression {metric}", verdict, detail, median * (1 + policy.max_increase_pct / 100), value)


def write_gate_junit(path: Path, result: GateResult) -> Path:
    """The gate as JUnit XML: one testcase per rule per drill; NO_DATA is an error unless allowed."""
    from drillkit.report.junit import Case, write_junit

    cases = []
    for r in result.reasons:
        refused = r in result.failures
        failed, no_data = refused and r.verdict is Verdict.FAIL, refused and r.verdict is Verdict.NO_DATA
        cases.append(Case(classname=f"drillkit.gate.{r.drill}", name=r.rule, failure=r.detail if failed else None,
                          error=f"NO_DATA: {r.detail}" if no_data else None, output=r.detail))  # fmt: skip
    return write_junit(path, "drillkit.gate", cases, properties={"passed": str(result.passed).lower()})
