"""The release gate on real run folders: pass, each kind of failure, NO_DATA, regressions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml

from drillkit.gate import gate
from drillkit.report.history import History, record_run
from drillkit.spec.policy import Policy
from drillkit.verdict import Verdict
from tests.fakes.runs import T0, all_sections, make_run

REPO = Path(__file__).resolve().parents[2]

ROOT = Path(__file__).resolve().parents[2]


def policy(**over: object) -> Policy:
    base = {"defaults": {"max_rto_s": 5, "max_failed_requests": 200, "max_rpo_s": 600, "max_restore_time_s": 60}}
    return Policy.model_validate(base | over)


def refused(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.rule: r.detail for r in result.failures}


def test_a_good_run_passes_every_rule(tmp_path: Path) -> None:
    result = gate(make_run(tmp_path / "r", sections=all_sections()), policy())
    assert result.passed, refused(result)
    rules = {r.rule for r in result.reasons}
    assert {"completed", "check recovery", "rto", "failed_requests", "slo availability", "slo latency-p99", "rpo",
            "restore_time"} <= rules  # fmt: skip


@pytest.mark.parametrize(
    ("run_kwargs", "gate_policy", "rule", "text"),
    [
        ({"rto_s": 4.0}, policy(drills={"region-outage": {"max_rto_s": 3}}), "rto", "RTO 4s (over the budget 3s)"),
        ({"rto_s": None}, policy(), "rto", "RTO never"),
        ({}, policy(defaults={"max_failed_requests": 10}), "failed_requests", "failed requests 100 (over the budget 10)"),
        ({"sections": all_sections(slo_verdict="FAIL")}, policy(), "slo availability", "availability: 0.004 <= 0.01"),
        ({"sections": all_sections(rpo_s=900)}, policy(), "rpo", "RPO 900s (over the budget 600s)"),
        ({"sections": all_sections(restore_time_s=75)}, policy(), "restore_time", "restore time 75s (over the budget 60s)"),
        ({"checks": [{"name": "rollback", "verdict": "FAIL", "detail": "clear_network failed"}]}, policy(), "check rollback",
         "clear_network failed"),
    ],
)  # fmt: skip
def test_each_kind_of_failure_refuses_with_its_reason(tmp_path: Path, run_kwargs: dict, gate_policy: Policy, rule: str,
                                                      text: str) -> None:  # type: ignore[type-arg]  # fmt: skip
    sections = run_kwargs.pop("sections", all_sections())
    result = gate(make_run(tmp_path / "r", sections=sections, **run_kwargs), gate_policy)
    assert not result.passed
    assert text in refused(result)[rule]


def test_an_interrupted_drill_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", sections=all_sections() | {"interrupted": True})
    assert refused(gate(run, policy()))["completed"] == "the drill was interrupted"


def test_no_data_refuses_unless_the_policy_opts_in(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r")  # an older run: no SLO results at all
    result = gate(run, policy())
    assert not result.passed and [r.verdict for r in result.failures] == [Verdict.NO_DATA]
    assert "no Prometheus SLO results" in refused(result)["slos"]
    assert gate(run, policy(allow_no_data=True)).passed


def test_an_slo_without_data_passes_only_when_the_slo_allows_it(tmp_path: Path) -> None:
    sections = all_sections()
    sections["slos"][1] |= {"verdict": "NO_DATA", "value": None}
    assert "slo latency-p99" in refused(gate(make_run(tmp_path / "a", sections=sections), policy()))
    sections["slos"][1]["allow_no_data"] = True
    assert gate(make_run(tmp_path / "b", sections=sections), policy()).passed


def test_restore_budgets_apply_only_to_restore_drills_even_when_named(tmp_path: Path) -> None:
    plain = make_run(tmp_path / "p", sections={k: v for k, v in all_sections().items() if k != "restore"})
    assert gate(plain, policy()).passed
    named = policy(drills={"region-outage": {"max_rpo_s": 60, "max_restore_time_s": 30}})
    result = gate(plain, named)
    assert result.passed and not [r for r in result.reasons if r.rule in ("rpo", "restore_time")]  # no data fault, no restore


def test_a_restore_drill_that_restored_nothing_stays_no_data(tmp_path: Path) -> None:
    sections = {k: v for k, v in all_sections().items() if k != "restore"}
    run = make_run(tmp_path / "r", name="data-loss-restore", sections=sections, restore_budgets={"rpo_budget_s": 600})
    reasons = refused(gate(run, policy(drills={"data-loss-restore": {"max_rpo_s": 60}})))
    assert "not measured" in reasons["rpo"]


def test_the_shipped_policy_passes_a_passing_region_outage_run(tmp_path: Path) -> None:
    from drillkit.spec.policy import load_policy

    run = make_run(tmp_path / "region-outage-20260528-030000", name="region-outage", rto_s=0.0, outage_s=0.0,
                   sections={k: v for k, v in all_sections().items() if k != "restore"})  # fmt: skip
    result = gate(run, load_policy(ROOT / "drills/policies/release.yaml"))
    assert result.passed, [r.detail for r in result.failures]


def _history(tmp_path: Path, rtos: list[float]) -> History:
    store = History(tmp_path / "history.sqlite")
    for i, rto in enumerate(rtos):
        record_run(store.path, make_run(tmp_path / f"old-{i}", rto_s=rto, generated_at=T0 + i * 86_400, sections=all_sections()))
    return store


def test_a_regression_over_the_median_of_the_last_runs_is_refused(tmp_path: Path) -> None:
    store = _history(tmp_path, [9.0, 1.0, 1.2, 0.8, 1.0, 1.1])  # the 9.0 is older than the last 5
    run = make_run(tmp_path / "now", rto_s=2.0, generated_at=T0 + 10 * 86_400, sections=all_sections())
    record_run(store.path, run)  # the drill appends itself; the gate must not compare it with itself
    rules = {"regression": {"runs": 5, "max_increase_pct": 25, "min_runs": 3, "min_delta": {"rto_s": 0.5}}}
    result = gate(run, policy(**rules), history=store)
    assert refused(result)["regression rto_s"] == "rto_s 2 vs median 1 of the last 5 runs of region-outage (+100.0%, limit +25%)"
    assert {r.rule: r.verdict for r in result.reasons}["regression failed_requests"] is Verdict.PASS
    within = make_run(tmp_path / "ok", rto_s=1.2, generated_at=T0 + 11 * 86_400, sections=all_sections())
    assert gate(within, policy(**rules), history=store).passed


def test_too_little_history_is_no_data_unless_allowed(tmp_path: Path) -> None:
    store = _history(tmp_path, [1.0])
    run = make_run(tmp_path / "now", rto_s=1.0, generated_at=T0 + 5 * 86_400, sections=all_sections())
    strict = policy(regression={"min_runs": 3})
    assert "1 earlier runs of region-outage" in refused(gate(run, strict, history=store))["regression rto_s"]
    assert gate(run, policy(regression={"min_runs": 3, "allow_no_history": True}), history=store).passed


def test_a_suite_folder_is_gated_run_by_run_and_an_errored_drill_fails(tmp_path: Path) -> None:
    make_run(tmp_path / "suite" / "region-outage-1", sections=all_sections())
    (tmp_path / "suite" / "summary.json").write_text(json.dumps({"suite": "s", "drills": [
        {"name": "region-outage", "run_dir": "region-outage-1", "status": "PASSED", "exit_code": 0},
        {"name": "node-crash", "run_dir": None, "status": "ERROR", "exit_code": 4, "error": "StartupError: node died"}]}))  # fmt: skip
    result = gate(tmp_path / "suite", policy())
    assert [(r.drill, r.detail) for r in result.failures] == [("node-crash", "node-crash did not complete: StartupError: node died")]


def test_the_cli_exits_1_prints_reasons_and_writes_json_and_junit(tmp_path: Path) -> None:
    run = make_run(tmp_path / "reports" / "r", rto_s=4.0, outage_s=0.5, sections=all_sections())
    pol = tmp_path / "policy.yaml"
    pol.write_text("defaults: {max_rto_s: 3}\n")
    command = [sys.executable, "-m", "drillkit", "gate", str(run), "--policy", str(pol)]
    done = subprocess.run([*command, "--json", "--junit", str(tmp_path / "gate.xml")], capture_output=True, text=True, check=False,
                          cwd=REPO, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr
    answer = json.loads(done.stdout)
    assert answer["passed"] is False and [f["rule"] for f in answer["failures"]] == ["rto"]
    assert answer["failures"][0]["budget"] == 3 and answer["failures"][0]["measured"] == 4
    cases = next(iter(JUnitXml.fromfile(str(tmp_path / "gate.xml"))))
    failures = {c.name: [r for r in c.result if isinstance(r, Failure | Error)] for c in cases}
    assert failures["rto"][0].message == "RTO 4s (over the budget 3s)" and not failures["completed"]
    ok = subprocess.run([*command[:-2], "--policy", str(REPO / "drills/policies/release.yaml")], capture_output=True, check=False,
                        text=True, cwd=REPO, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stdout
    assert "release gate: PASS" in ok.stdout
