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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from drillkit.drill import DrillResult, run_drill
from drillkit.errors import EnvironmentFailure, ExitCode
from drillkit.plan import DrillPlan, plan_drill
from drillkit.report.history import HISTORY_NAME
from drillkit.report.suite_report import (
    DrillStatus,
    render_suite_outputs,
    suite_exit_code,
)
from drillkit.spec.suite import DrillOverrides, SuiteSpec, load_suite

SUMMARY_NAME = "summary.json"
Runner = Callable[..., DrillResult]  # run_drill's signature: (plan, *, reports, history)


@dataclass(frozen=True)
class SuitePlan:
    """A validated suite: its spec and every drill's plan with its retries."""

    path: Path
    spec: SuiteSpec
    drills: list[tuple[DrillPlan, int]]


def plan_suite(path: str | Path) -> SuitePlan:
    """Load the suite and plan every drill with its overrides (nothing is touched)."""
    spec = load_suite(path)
    plans = []
    for i, entry in enumerate(spec.drills):
        overrides = DrillOverrides(entry.overrides, str(path), f"drills[{i}].overrides") if entry.overrides else None
        plans.append((plan_drill(entry.drill, overrides), spec.retries if entry.retries is None else entry.retries))
    return SuitePlan(Path(path), spec, plans)


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
                 listener: SuiteListener | None = None) -> None:  # fmt: skip
        self.plan, self.reports, self.runner, self.sleep, self.clock = plan, reports, runner, sleep, clock
        self.listener = listener or _Quiet()

    def run(self) -> SuiteResult:
        """Run every drill in order and write the suite folder's outputs."""
        started = self.clock()
        folder = self.reports / f"{self.plan.spec.name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}"
        folder.mkdir(parents=True, exist_ok=True)
        outcomes: list[DrillOutcome] = []
        for index, (plan, retries) in enumerate(self.plan.drills):
            if index and self.plan.spec.settle_s:
                self.listener.settling(self.plan.spec.settle_s)
                self.sleep(self.plan.spec.settle_s)
            outcomes.append(self._drill(index, plan, retries, folder))
            self.listener.drill_finished(index, outcomes[-1])
            if self._stop(outcomes[-1]):
                outcomes += [self._skipped(p, outcomes[-1]) for p, _ in self.plan.drills[index + 1 :]]
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
                   "drills": [asdict(o) | {"status": o.status.value} for o in outcomes]}  # fmt: skip
        (folder / SUMMARY_NAME).write_text(json.dumps(summary, indent=1))


def _newest_run(folder: Path, name: str) -> str | None:
    runs = sorted(folder.glob(f"{name}-*"))
    return runs[-1].name if runs else None
