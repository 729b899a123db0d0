"""Suites with a drill runner injected at the seam (``SuiteRunner(runner=...)``): order,
overrides, retries only after environment errors, stop_on_failure, settle time, and the
suite folder (summary.json, junit.xml read by junitparser, suite.pdf read back), plus the
resilience score on exact inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from junitparser import Error, Failure, JUnitXml, Skipped
from pypdf import PdfReader

from drillkit.drill import DrillResult
from drillkit.errors import ExitCode, SpecError, StartupError
from drillkit.plan import DrillPlan
from drillkit.report.history import History, record_run
from drillkit.report.score import DrillScore, resilience_score
from drillkit.suite import SuiteRunner, plan_suite
from tests.fakes.runs import T0, make_run

DRILLS = Path(__file__).resolve().parents[2] / "drills"


class ScriptedRunner:
    """Plays each drill's script: "env" raises an environment error, "ok" / "slow" write a run folder."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script, self.calls = script, []

    def __call__(self, plan: DrillPlan, *, reports: Path, history: Path) -> DrillResult:
        self.calls.append(plan.spec.name)
        step = self.script[plan.spec.name].pop(0)
        if step == "env":
            raise StartupError("standby-1 died during start-up")
        rto = {"ok": 1.0, "slow": 4.0}[step]
        run = make_run(reports / f"{plan.spec.name}-{len(self.calls)}", name=plan.spec.name, rto_s=rto,
                       rto_budget_s=plan.spec.recovery.rto_budget_s, generated_at=T0 + len(self.calls))  # fmt: skip
        record_run(history, run)
        journal = json.loads((run / "journal.json").read_text())
        return DrillResult(run, ExitCode(journal["exit_code"]), journal)


def suite_file(tmp_path: Path, **fields: object) -> Path:
    body = {"name": "nightly", "settle_s": 7, "retries": 1, "drills": [
        {"drill": str(DRILLS / "node-crash.yaml")},
        {"drill": str(DRILLS / "region-outage.yaml"), "overrides": {"recovery": {"rto_budget_s": 2}}},
        {"drill": str(DRILLS / "network-partition.yaml")}]} | fields  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def run_suite(tmp_path: Path, script: dict[str, list[str]], **fields: object) -> tuple:  # type: ignore[type-arg]
    sleeps: list[float] = []
    runner = ScriptedRunner(script)
    result = SuiteRunner(plan_suite(suite_file(tmp_path, **fields)), reports=tmp_path / "reports", runner=runner,
                         sleep=sleeps.append, clock=lambda: T0).run()  # fmt: skip
    return result, runner, sleeps


def test_a_suite_runs_in_order_and_writes_its_folder(tmp_path: Path) -> None:
    result, runner, sleeps = run_suite(tmp_path, {"node-crash": ["ok"], "region-outage": ["slow"], "network-partition": ["ok"]})
    assert runner.calls == ["node-crash", "region-outage", "network-partition"]
    assert sleeps == [7, 7]  # settle between drills, not before the first
    assert [o.status.value for o in result.outcomes] == ["PASSED", "FAILED", "PASSED"]  # 4 s over the overridden 2 s
    assert result.exit_code is ExitCode.DRILL_FAILED
    suite = next(iter(JUnitXml.fromfile(str(result.folder / "junit.xml"))))
    assert (suite.tests, suite.failures, suite.errors) == (3, 1, 0)
    failure = {c.name: c.result for c in suite}["region-outage"][0]
    assert isinstance(failure, Failure) and "RTO 4.00 s (budget 2 s)" in failure.message
    summary = json.loads((result.folder / "summary.json").read_text())
    assert [d["rto_s"] for d in summary["drills"]] == [1.0, 4.0, 1.0] and summary["score"] == result.score
    pages = PdfReader(result.folder / "suite.pdf").pages
    assert len(pages) == 1 + 3 * 3  # the summary, then cover, timeline and details of each drill
    assert f"resilience score {result.score:.1f} / 100" in pages[0].extract_text()
    assert "2 of 3 drills passed" in pages[0].extract_text()
    assert len(History(tmp_path / "reports" / "history.sqlite").rows()) == 3  # one history, next to the suites


def test_an_environment_error_is_retried_but_a_failed_verdict_never(tmp_path: Path) -> None:
    result, runner, sleeps = run_suite(tmp_path, {"node-crash": ["env", "ok"], "region-outage": ["slow", "ok"],
                                                  "network-partition": ["env", "env", "ok"]})  # fmt: skip
    assert runner.calls == ["node-crash", "node-crash", "region-outage", "network-partition", "network-partition"]
    assert [(o.status.value, len(o.attempts)) for o in result.outcomes] == [("PASSED", 2), ("FAILED", 1), ("ERROR", 2)]
    assert "StartupError: standby-1 died" in result.outcomes[2].error
    assert sleeps == [7, 7, 7, 7]  # each retry waits the settle time too
    cases = {c.name: c.result for c in next(iter(JUnitXml.fromfile(str(result.folder / "junit.xml"))))}
    assert isinstance(cases["network-partition"][0], Error) and cases["node-crash"] == []


def test_stop_on_failure_skips_the_rest(tmp_path: Path) -> None:
    result, runner, _ = run_suite(tmp_path, {"node-crash": ["slow"]}, stop_on_failure=True,
                                  drills=[{"drill": str(DRILLS / "node-crash.yaml")}, {"drill": str(DRILLS / "node-hang.yaml")}])  # fmt: skip
    assert runner.calls == ["node-crash"]
    assert [o.status.value for o in result.outcomes] == ["FAILED", "SKIPPED"]
    cases = {c.name: c.result for c in next(iter(JUnitXml.fromfile(str(result.folder / "junit.xml"))))}
    assert isinstance(cases["node-hang"][0], Skipped)


def test_a_bad_override_names_the_suite_file_and_field(tmp_path: Path) -> None:
    drills = [{"drill": str(DRILLS / "node-crash.yaml")},
              {"drill": str(DRILLS / "region-outage.yaml"), "overrides": {"recovery": {"rto_budget": 2}}}]  # fmt: skip
    with pytest.raises(SpecError) as caught:
        plan_suite(suite_file(tmp_path, drills=drills))
    assert caught.value.file.endswith("suite.yaml") and caught.value.field == "drills[1].overrides.recovery.rto_budget"
    with pytest.raises(SpecError, match="drills.0..drill"):
        plan_suite(suite_file(tmp_path, drills=[{"dril": "x.yaml"}]))


def test_every_shipped_suite_plans_and_every_drill_belongs_to_one() -> None:
    planned: set[str] = set()
    for path in sorted((DRILLS / "suites").glob("*.yaml")):
        plan = plan_suite(path)
        assert plan.drills, path
        planned |= {drill.path.stem for drill, _ in plan.drills}  # a variant renames the drill, not its file
    assert planned == {path.stem for path in DRILLS.glob("*.yaml")}


def test_the_resilience_score_weights_passed_rto_and_error_budget() -> None:
    assert resilience_score([]) == 0.0
    assert resilience_score([DrillScore(True, 0.0, 5.0, 0.0)]) == 100.0
    # passed 1 of 2 -> 25; RTO parts (1 - 1/4 = 0.75, never = 0) -> 30 * 0.375 = 11.25; budget (0.5, over -> 0) -> 5
    assert resilience_score([DrillScore(True, 1.0, 2.0, 0.5), DrillScore(False, float("inf"), 2.0, 3.0)]) == 41.2
    assert resilience_score([DrillScore(False, None, None, None)]) == 0.0
    assert resilience_score([DrillScore(True, 2.0, 2.0, 1.0)]) == 65.0  # at the budget: half the RTO points
