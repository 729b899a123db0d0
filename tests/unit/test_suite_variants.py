"""Suites that compare settings: environment overrides and variants, planned, refused, run and
compared (the drill runner is injected at the seam, as in test_suite.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drillkit.drill import DrillResult
from drillkit.errors import EnvironmentFailure, ExitCode, SpecError, StartupError
from drillkit.plan import DrillPlan
from drillkit.spec import EnvironmentSpec
from drillkit.spec.loader import parse_spec
from drillkit.suite import SuiteRunner, comparison_markdown, plan_suite
from tests.fakes.runs import T0, make_run
from tests.unit.test_suite import DRILLS, ScriptedRunner

REPO = DRILLS.parent


class _NoAliases(yaml.SafeDumper):
    """Write a repeated value out (drillkit refuses YAML aliases)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _suite(tmp_path: Path, body: dict[str, object]) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.dump({"name": "compare", "settle_s": 0, "retries": 0} | body, Dumper=_NoAliases))
    return path


VARIANTS = [
    {"name": "slow-checks", "environment": {"gateway": {"check_interval_ms": 2000, "fall": 3}},
     "overrides": {"recovery": {"rto_budget_s": 9}}},
    {"name": "shipped", "environment": {}},
]  # fmt: skip
DRILL_ENTRIES = [{"drill": str(DRILLS / "node-crash.yaml")},
                 {"drill": str(DRILLS / "node-hang.yaml"), "environment_overrides": {"gateway": {"retries": 2}}}]  # fmt: skip


def test_variants_run_every_drill_under_each_setting_in_blocks(tmp_path: Path) -> None:
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES, "variants": VARIANTS}))
    names = [p.spec.name for p, _ in plan.drills]
    assert names == ["node-crash-slow-checks", "node-hang-slow-checks", "node-crash-shipped", "node-hang-shipped"]
    assert plan.variants == ["slow-checks", "slow-checks", "shipped", "shipped"]
    crash_slow, hang_slow, crash_shipped, hang_shipped = (p for p, _ in plan.drills)
    assert (crash_slow.environment.gateway.check_interval_ms, crash_slow.environment.gateway.fall) == (2000, 3)
    assert crash_slow.spec.recovery.rto_budget_s == 9  # the variant's drill override
    assert hang_slow.environment.gateway.retries == 2 and hang_slow.environment.gateway.check_interval_ms == 2000
    assert crash_shipped.environment.gateway.check_interval_ms == 500  # local.yaml's own
    assert hang_shipped.environment.gateway.retries == 2  # the entry's override holds under every variant
    assert plan.overrides_environment


def test_the_merged_environment_is_the_text_the_activities_read(tmp_path: Path) -> None:
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES[:1], "variants": VARIANTS[:1]}))
    drill = plan.drills[0][0]
    again = parse_spec(drill.environment_text, "run/environment.yaml", EnvironmentSpec)
    assert again == drill.environment and again.gateway.check_interval_ms == 2000


def test_without_overrides_the_environment_text_is_the_file_itself(tmp_path: Path) -> None:
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES[:1]}))
    assert plan.drills[0][0].environment_text == (REPO / "drills/environments/local.yaml").read_text()
    assert plan.variants == [None] and not plan.overrides_environment


def test_a_bad_environment_override_names_the_suite_field(tmp_path: Path) -> None:
    body = {"drills": [{"drill": str(DRILLS / "node-crash.yaml"), "environment_overrides": {"gateway": {"fall": 0}}}]}
    with pytest.raises(SpecError) as raised:
        plan_suite(_suite(tmp_path, body))
    assert raised.value.file.endswith("suite.yaml") and raised.value.field == "drills[0].environment_overrides.gateway.fall"
    bad_variant = {"drills": DRILL_ENTRIES[:1], "variants": [{"name": "x", "environment": {"gateway": {"typo": 1}}}]}
    with pytest.raises(SpecError) as raised:
        plan_suite(_suite(tmp_path, bad_variant))
    assert raised.value.field.startswith("variants[0].environment") and "gateway.typo" in raised.value.field


def test_variant_names_must_be_unique(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES[:1], "variants": [dict(VARIANTS[1]), dict(VARIANTS[1])]}))
    assert "variants" in str(raised.value) and "variant names must be unique" in str(raised.value)


def test_a_suite_that_changes_the_environment_refuses_one_that_is_already_up(tmp_path: Path) -> None:
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES, "variants": VARIANTS}))
    runner = ScriptedRunner({})

    def up(drill: DrillPlan) -> bool:
        return True

    with pytest.raises(EnvironmentFailure, match="environment 'local' is up"):
        SuiteRunner(plan, reports=tmp_path / "reports", runner=runner, sleep=lambda s: None, is_up=up).run()
    assert runner.calls == []  # nothing ran


def test_the_comparison_reads_each_variants_journal(tmp_path: Path) -> None:
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES[:1], "variants": VARIANTS}))
    runner = ScriptedRunner({"node-crash-slow-checks": ["slow"], "node-crash-shipped": ["ok"]})
    result = SuiteRunner(plan, reports=tmp_path / "reports", runner=runner, sleep=lambda s: None, clock=lambda: T0,
                         is_up=lambda drill: False).run()  # fmt: skip
    summary = yaml.safe_load((result.folder / "summary.json").read_text())
    rows = {r["variant"]: r for r in summary["comparison"]}
    assert set(rows) == {"slow-checks", "shipped"} and rows["shipped"]["drill"] == "node-crash"
    assert (rows["slow-checks"]["rto_s"], rows["shipped"]["rto_s"]) == (4.0, 1.0)
    assert [d["variant"] for d in summary["drills"]] == ["slow-checks", "shipped"]
    table = comparison_markdown(summary["comparison"])
    assert table.splitlines()[0] == "| drill | variant | RTO | failed | worst p99 |"
    assert "| node-crash | slow-checks | 4.00 s |" in table



def test_the_variants_overrides_win_over_the_entrys_own(tmp_path: Path) -> None:
    entry = {"drill": str(DRILLS / "node-crash.yaml"), "overrides": {"recovery": {"rto_budget_s": 2}},
             "environment_overrides": {"gateway": {"retries": 2, "fall": 4}}}  # fmt: skip
    variant = {"name": "more", "environment": {"gateway": {"retries": 4}}, "overrides": {"recovery": {"rto_budget_s": 9}}}
    drill = plan_suite(_suite(tmp_path, {"drills": [entry], "variants": [variant]})).drills[0][0]
    assert (drill.environment.gateway.retries, drill.environment.gateway.fall) == (4, 4)  # merged, the variant last
    assert drill.spec.recovery.rto_budget_s == 9


def test_a_name_that_would_not_fit_is_refused_not_truncated(tmp_path: Path) -> None:
    entry = {"drill": str(DRILLS / "node-crash.yaml"), "overrides": {"name": "n" * 50}}
    with pytest.raises(SpecError, match="longer than 63 characters") as raised:
        plan_suite(_suite(tmp_path, {"drills": [entry], "variants": [{"name": "v" * 21, "environment": {}}]}))
    assert raised.value.field == "drills[0]"


def test_a_drill_that_does_not_bring_its_environment_up_is_refused_under_overrides(tmp_path: Path) -> None:
    crash = {"drill": str(DRILLS / "node-crash.yaml"), "overrides": {"bring_up": False}}
    assert plan_suite(_suite(tmp_path, {"drills": [crash]})).drills  # a plain suite may run on what is up
    hang = {"drill": str(DRILLS / "node-hang.yaml"), "environment_overrides": {"gateway": {"fall": 3}}}
    with pytest.raises(SpecError, match="bring_up: false") as raised:
        plan_suite(_suite(tmp_path, {"drills": [hang, crash]}))
    assert raised.value.field == "drills[1]"


def test_a_suite_that_changes_nothing_runs_on_an_environment_already_up(tmp_path: Path) -> None:
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES[:1]}))
    runner = ScriptedRunner({"node-crash": ["ok"]})
    SuiteRunner(plan, reports=tmp_path / "reports", runner=runner, sleep=lambda s: None, clock=lambda: T0,
                is_up=lambda drill: True).run()  # fmt: skip
    assert runner.calls == ["node-crash"]


class _NeverRecovers:
    """Under "broken" the drill never recovers; under "down" its environment fails to start (no run folder)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, plan: DrillPlan, *, reports: Path, history: Path) -> DrillResult:
        self.calls += 1
        if plan.spec.name.endswith("-down"):
            raise StartupError("primary-0 died during start-up")
        run = make_run(reports / f"{plan.spec.name}-{self.calls}", name=plan.spec.name, rto_s=None, generated_at=T0)
        return DrillResult(run, ExitCode.DRILL_FAILED, {})


def test_the_comparison_says_never_and_leaves_a_drill_without_a_journal_empty(tmp_path: Path) -> None:
    variants = [{"name": "broken", "environment": {"gateway": {"fall": 9}}}, {"name": "down", "environment": {}}]
    plan = plan_suite(_suite(tmp_path, {"drills": DRILL_ENTRIES[:1], "variants": variants}))
    result = SuiteRunner(plan, reports=tmp_path / "reports", runner=_NeverRecovers(), sleep=lambda s: None,
                         clock=lambda: T0, is_up=lambda drill: False).run()  # fmt: skip
    rows = {r["variant"]: r for r in yaml.safe_load((result.folder / "summary.json").read_text())["comparison"]}
    assert (rows["broken"]["rto_s"], rows["broken"]["recovered"], rows["broken"]["status"]) == (None, False, "FAILED")
    assert rows["broken"]["failed_requests"] > 0 and rows["broken"]["worst_p99_ms"] > 0
    assert rows["down"] | {"status": "-"} == {"drill": "node-crash", "variant": "down", "status": "-", "rto_s": None,
                                              "recovered": None, "failed_requests": None, "requests": None,
                                              "worst_p99_ms": None}  # fmt: skip
    lines = comparison_markdown(list(rows.values())).splitlines()
    assert lines[2].startswith("| node-crash | broken | never | ") and lines[3] == "| node-crash | down | - | - | - |"

# The shipped suite: its HAProxy-defaults and previous variants set GatewaySpec's redispatch,
# try_timeout_ms and retry_budget_percent (and check_timeout_ms, eject_on_retry); without those
# fields this test fails on validation of the suite file, not on the variant machinery.
def test_the_shipped_gateway_comparison_plans_three_settings() -> None:
    plan = plan_suite(REPO / "drills/suites/gateway-settings.yaml")
    assert sorted(set(plan.variants)) == ["haproxy-defaults", "previous", "shipped"]  # type: ignore[type-var]
    defaults = next(p for (p, _), v in zip(plan.drills, plan.variants, strict=True) if v == "haproxy-defaults")
    gateway = defaults.environment.gateway
    assert (gateway.check_interval_ms, gateway.fall, gateway.redispatch, gateway.error_limit) == (2000, 3, False, 0)
