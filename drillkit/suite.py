"""Run a suite of drills in order (``drillkit suite SUITE``) and write one suite folder.

Every drill is planned (with its overrides) before the first one runs, so a typo in the
fifth drill stops the suite before anything is touched. Then, in order: run the drill with
:func:`drillkit.drill.run_drill`; re-run it after an environment error (``EnvironmentFailure``)
up to ``retries`` times, never after a verdict; settle ``settle_s`` between drills; stop early
on ``stop_on_failure``, a failed rollback or an interrupt. The folder
``reports/<suite>-<time>/`` holds each drill's run folder, ``summary.json``, ``junit.xml``
and ``suite.pdf`` (pure functions of the folder, see :mod:`drillkit.report.suite_report`).

>>> result = SuiteRunner(plan_suite("drills/suites/smoke.yaml"), reports=Path("reports")).run()   # doctest: +SKIP
>>> result.exit_code, result.score                                                               # doctest: +SKIP
(<ExitCode.OK: 0>, 91.5)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from drillkit.drill import DrillResult, run_drill
from drillkit.errors import EnvironmentFailure, ExitCode, SpecError
from drillkit.journal import JOURNAL_NAME, read_journal
from drillkit.measure import Measurements
from drillkit.plan import DrillPlan, plan_drill
from drillkit.report.history import HISTORY_NAME
from drillkit.report.suite_report import (
    DrillStatus,
    render_suite_outputs,
    suite_exit_code,
)
from drillkit.spec.suite import DrillOverrides, EnvironmentOverrides, SuiteSpec, SuiteVariant, deep_merge, load_suite

SUMMARY_NAME = "summary.json"
Runner = Callable[..., DrillResult]  # run_drill's signature: (plan, *, reports, history)


@dataclass(frozen=True)
class SuitePlan:
    """A validated suite: its spec, every drill's plan with its retries, and the variant each runs
    under (``variants[i]`` for ``drills[i]``; None in a suite without variants)."""

    path: Path
    spec: SuiteSpec
    drills: list[tuple[DrillPlan, int]]
    variants: list[str | None] = field(default_factory=list)

    @property
    def overrides_environment(self) -> bool:
        """Some drill runs on an environment the suite changed (it must bring that one up itself)."""
        return bool(self.spec.variants) or any(d.environment_overrides for d in self.spec.drills)


def plan_suite(path: str | Path) -> SuitePlan:
    """Load the suite and plan every drill with its overrides, under each variant (nothing is touched)."""
    spec = load_suite(path)
    plans, variants = [], []
    for variant in spec.variants or (None,):
        for i, entry in enumerate(spec.drills):
            plan = plan_drill(entry.drill, *_overrides(spec, i, variant, str(path)))
            if variant is not None:
                plan = _named(plan, variant.name, str(path), i)
            plans.append((plan, spec.retries if entry.retries is None else entry.retries))
            variants.append(variant.name if variant is not None else None)
    plan = SuitePlan(Path(path), spec, plans, variants)
    _check_brings_up(plan)
    return plan


def _check_brings_up(plan: SuitePlan) -> None:
    """A suite that changes an environment refuses one already up, so each drill must bring its own
    up: one with ``bring_up: false`` could never run (refused here, before anything is touched)."""
    if not plan.overrides_environment:
        return
    for i, (drill, _) in enumerate(plan.drills):
        if not drill.spec.bring_up:
            raise SpecError(str(plan.path), f"drills[{i % len(plan.spec.drills)}]",
                            f"{drill.path} says bring_up: false, but a suite with environment overrides or variants "
                            "brings up its own environment for each drill",
                            "set bring_up: true (in the drill, or in the entry's overrides)")  # fmt: skip


def _overrides(spec: SuiteSpec, i: int, variant: SuiteVariant | None,
               file: str) -> tuple[DrillOverrides | None, EnvironmentOverrides | None]:  # fmt: skip
    """The entry's overrides, then the variant's, for drill ``i``."""
    entry = spec.drills[i]
    drill, environment = dict(entry.overrides), dict(entry.environment_overrides)
    where, env_where = f"drills[{i}].overrides", f"drills[{i}].environment_overrides"
    if variant is not None:
        j = spec.variants.index(variant)
        drill, environment = deep_merge(drill, variant.overrides), deep_merge(environment, variant.environment)
        where, env_where = f"variants[{j}].overrides (with {where})", f"variants[{j}].environment (with {env_where})"
    return (DrillOverrides(drill, file, where) if drill else None,
            EnvironmentOverrides(environment, file, env_where) if environment else None)  # fmt: skip


def _named(plan: DrillPlan, variant: str, file: str, i: int) -> DrillPlan:
    """The plan of a drill under ``variant``: named ``<drill>-<variant>`` (its run folders and history)."""
    name = f"{plan.spec.name}-{variant}"
    if len(name) > 63:
        raise SpecError(file, f"drills[{i}]", f"{plan.spec.name!r} under variant {variant!r} would be named {name!r}, "
                        "longer than 63 characters", "use a shorter variant name")  # fmt: skip
    return replace(plan, spec=plan.spec.model_copy(update={"name": name}))


def refuse_running_environment(plan: SuitePlan, is_up: Callable[[DrillPlan], bool]) -> None:
    """A suite that changes an environment brings it up for each drill: one already up runs other
    settings, and its drills would silently measure those. Refuse before anything runs."""
    if not plan.overrides_environment:
        return
    for drill, _ in plan.drills:
        if is_up(drill):
            raise EnvironmentFailure(f"environment {drill.environment.name!r} is up; a suite with environment overrides "
                                     "or variants brings up its own environment for each drill (run `drillkit down` first)")  # fmt: skip


@dataclass
class DrillOutcome:
    """How one drill of the suite ended; ``run_dir`` is relative to the suite folder."""

    name: str
    drill_file: str
    status: DrillStatus
    exit_code: int
    run_dir: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    variant: str | None = None  # the suite variant it ran under


class SuiteListener(Protocol):
    """Progress callbacks (the CLI draws a progress bar with them)."""

    def drill_started(self, index: int, name: str, attempt: int) -> None: ...
    def drill_finished(self, index: int, outcome: DrillOutcome) -> None: ...
    def settling(self, seconds: float) -> None: ...


class _Quiet:
    def drill_started(self, index: int, name: str, attempt: int) -> None: ...
    def drill_finished(self, index: int, outcome: DrillOutcome) -> None: ...
    def settling(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SuiteResult:
    folder: Path
    outcomes: list[DrillOutcome]
    exit_code: ExitCode
    score: float


class SuiteRunner:
    """Runs one planned suite; the drill runner, sleep and clock are injected for tests."""

    def __init__(self, plan: SuitePlan, *, reports: Path = Path("reports"), runner: Runner = run_drill,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 listener: SuiteListener | None = None, is_up: Callable[[DrillPlan], bool] | None = None) -> None:  # fmt: skip
        self.plan, self.reports, self.runner, self.sleep, self.clock = plan, reports, runner, sleep, clock
        self.listener = listener or _Quiet()
        self.is_up = is_up or _environment_up

    def run(self) -> SuiteResult:
        """Run every drill in order and write the suite folder's outputs."""
        refuse_running_environment(self.plan, self.is_up)
        started = self.clock()
        folder = self.reports / f"{self.plan.spec.name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}"
        folder.mkdir(parents=True, exist_ok=True)
        outcomes: list[DrillOutcome] = []
        for index, (plan, retries) in enumerate(self.plan.drills):
            if index and self.plan.spec.settle_s:
                self.listener.settling(self.plan.spec.settle_s)
                self.sleep(self.plan.spec.settle_s)
            outcomes.append(self._drill(index, plan, retries, folder))
            outcomes[-1].variant = self._variant(index)
            self.listener.drill_finished(index, outcomes[-1])
            if self._stop(outcomes[-1]):
                skipped = [self._skipped(p, outcomes[-1]) for p, _ in self.plan.drills[index + 1 :]]
                for later, outcome in enumerate(skipped, start=index + 1):
                    outcome.variant = self._variant(later)
                outcomes += skipped
                break
        self._write_summary(folder, outcomes, started)
        summary = render_suite_outputs(folder, generated_at=self.clock())
        return SuiteResult(folder, outcomes, suite_exit_code(outcomes), summary["score"])

    def _drill(self, index: int, plan: DrillPlan, retries: int, folder: Path) -> DrillOutcome:
        outcome = DrillOutcome(plan.spec.name, str(plan.path), DrillStatus.ERROR, int(ExitCode.ENVIRONMENT))
        began = self.clock()
        for attempt in range(retries + 1):
            if attempt:
                self.sleep(max(1.0, self.plan.spec.settle_s))  # run folders are named to the second
            self.listener.drill_started(index, plan.spec.name, attempt)
            try:
                result = self.runner(plan, reports=folder, history=self.reports / HISTORY_NAME)
            except EnvironmentFailure as exc:  # the platform broke, not the drill: worth another try
                outcome.attempts.append({"run_dir": _newest_run(folder, plan.spec.name), "error": str(exc)})
                outcome.error = f"{type(exc).__name__}: {exc}"
                continue
            outcome.attempts.append({"run_dir": result.run_dir.name, "error": None})
            outcome.status = DrillStatus.PASSED if result.exit_code is ExitCode.OK else DrillStatus.FAILED
            outcome.exit_code, outcome.run_dir, outcome.error = int(result.exit_code), result.run_dir.name, None
            break  # a verdict is final: never retried
        outcome.duration_s = self.clock() - began
        return outcome

    def _variant(self, index: int) -> str | None:
        return self.plan.variants[index] if index < len(self.plan.variants) else None

    def _stop(self, outcome: DrillOutcome) -> bool:
        if outcome.exit_code in (ExitCode.ROLLBACK_FAILED, ExitCode.INTERRUPTED):
            return True  # the environment may hold a fault, or the operator asked to stop
        return self.plan.spec.stop_on_failure and outcome.status is not DrillStatus.PASSED

    @staticmethod
    def _skipped(plan: DrillPlan, after: DrillOutcome) -> DrillOutcome:
        return DrillOutcome(plan.spec.name, str(plan.path), DrillStatus.SKIPPED, int(after.exit_code),
                            error=f"not run: {after.name} ended {after.status.value} (exit {after.exit_code})")  # fmt: skip

    def _write_summary(self, folder: Path, outcomes: list[DrillOutcome], started: float) -> None:
        spec = self.plan.spec
        summary = {"suite": spec.name, "suite_file": str(self.plan.path), "description": spec.description,
                   "started_at": started, "ended_at": self.clock(), "settle_s": spec.settle_s,
                   "stop_on_failure": spec.stop_on_failure,
                   "variants": [v.model_dump(mode="json") for v in spec.variants],
                   "drills": [asdict(o) | {"status": o.status.value} for o in outcomes]}  # fmt: skip
        if spec.variants:
            summary["comparison"] = compare(folder, outcomes)
        (folder / SUMMARY_NAME).write_text(json.dumps(summary, indent=1))


def _environment_up(plan: DrillPlan) -> bool:
    from drillkit.platforms import open_platform

    return open_platform(plan.environment, spec_file=str(plan.spec.environment)).status().up


def compare(folder: Path, outcomes: list[DrillOutcome]) -> list[dict[str, Any]]:
    """One row per drill run under a variant: its verdict, RTO, failed requests and worst p99, read
    from its journal (None where the drill has none)."""
    rows = []
    for o in outcomes:
        if o.variant is None:
            continue
        m = _measurements(folder, o.run_dir)
        drill = o.name[: -len(o.variant) - 1] if o.name.endswith(f"-{o.variant}") else o.name
        rows.append({"drill": drill, "variant": o.variant, "status": o.status.value,
                     "rto_s": None if m is None else (None if math.isinf(m.rto_s) else m.rto_s),
                     "recovered": None if m is None else not math.isinf(m.rto_s),
                     "failed_requests": None if m is None else m.failed_requests,
                     "requests": None if m is None else m.requests,
                     "worst_p99_ms": None if m is None else round(m.worst_p99_s * 1e3, 1)})  # fmt: skip
    return rows


def _measurements(folder: Path, run_dir: str | None) -> Measurements | None:
    if run_dir is None:
        return None
    try:
        return read_journal(folder / run_dir / JOURNAL_NAME).measurements
    except SpecError:  # a damaged run folder: no row values, the suite's verdict says why
        return None


def comparison_markdown(rows: list[dict[str, Any]]) -> str:
    """The comparison as a GitHub table: drill | variant | RTO | failed | worst p99."""
    lines = ["| drill | variant | RTO | failed | worst p99 |", "|---|---|---|---|---|"]
    for r in rows:
        rto = "-" if r["recovered"] is None else ("never" if not r["recovered"] else f"{r['rto_s']:.2f} s")
        failed = "-" if r["failed_requests"] is None else f"{r['failed_requests']} of {r['requests']}"
        p99 = "-" if r["worst_p99_ms"] is None else f"{r['worst_p99_ms']:.0f} ms"
        lines.append(f"| {r['drill']} | {r['variant']} | {rto} | {failed} | {p99} |")
    return "\n".join(lines) + "\n"


def _newest_run(folder: Path, name: str) -> str | None:
    runs = sorted(folder.glob(f"{name}-[0-9]*"))
    return runs[-1].name if runs else None
