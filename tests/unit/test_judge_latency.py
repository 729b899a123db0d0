"""``slo.judge_latency``: whether the p99 objective holds through the fault or only from recovery on.

The same exact synthetic logs as ``test_measure.py`` (a request every 10 ms from T0 - 5 s,
1 s slow inside ``slow``), judged by :func:`measure` and :func:`latency_check`; the
Prometheus latency SLOs follow the same mode through :func:`evaluate`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from pypdf import PdfReader

from drillkit.errors import SpecError
from drillkit.evaluate import Evidence, RunRecord, evaluate
from drillkit.events import read_events
from drillkit.journal import parse_journal, read_journal, write_journal
from drillkit.measure import Measurements
from drillkit.observe.slo import judge_slo
from drillkit.plan import DrillPlan
from drillkit.report.pdf import render_report
from drillkit.report.run import load_run
from drillkit.request_log import read_request_log
from drillkit.spec import DrillSpec, load_drill, load_environment
from drillkit.spec.drill import JudgeLatency
from drillkit.spec.slo import SloCheck
from drillkit.verdict import Verdict, latency_check
from tests.fakes.runs import T0 as RUN_T0
from tests.fakes.runs import make_run
from tests.unit.test_measure import T0, judge, log

REPO = Path(__file__).resolve().parents[2]
OLD = REPO / "tests/fixtures/journal-v1/node-crash"
ADAPTER: TypeAdapter[SloCheck] = TypeAdapter(SloCheck)
AFTER, THROUGH = JudgeLatency.AFTER_RECOVERY, JudgeLatency.THROUGH_FAULT


def slow_then_good(**kw: Any) -> Measurements:
    """1 s slow requests for the first 2 s of the fault, then good: RTO 2 s."""
    return judge(log(slow=(0.0, 2.0)), **kw)


def test_through_the_fault_the_slow_incident_fails_latency() -> None:
    m = slow_then_good()  # the default mode
    assert m.judge_latency is THROUGH and m.rto_s == pytest.approx(2.0)
    assert m.worst_p99_judged_s == pytest.approx(1.0) and m.latency_judged_from == pytest.approx(T0 - 5)
    check = latency_check(m, p99_ms=250)
    assert check.verdict is Verdict.FAIL and check.name == "latency"
    assert check.detail == "worst p99 1000 ms through the fault (objective <= 250 ms)"


def test_after_recovery_the_same_log_passes_and_the_incident_still_counts_toward_rto() -> None:
    m = slow_then_good(judge_latency=AFTER)
    assert m.judge_latency is AFTER and m.rto_s == pytest.approx(2.0) and m.worst_p99_s == pytest.approx(1.0)
    assert m.latency_judged_from == pytest.approx(T0 + 2.0) and m.worst_p99_judged_s == pytest.approx(0.005)
    check = latency_check(m, p99_ms=250)
    assert check.verdict is Verdict.PASS
    assert check.detail == "worst p99 5 ms after recovery at +2.00 s (objective <= 250 ms)"


def test_after_recovery_windows_start_at_recovery_not_at_the_fault_grid() -> None:
    # slow until +2.05 s: RTO 2.1 s (read every 100 ms); a window on the fault's 1 s grid from
    # +2 s would hold the last slow requests, one aligned to recovery holds none.
    m = judge(log(slow=(0.0, 2.05)), judge_latency=AFTER)
    assert m.rto_s == pytest.approx(2.1) and m.latency_judged_from == pytest.approx(T0 + 2.1)
    assert latency_check(m, p99_ms=250).verdict is Verdict.PASS


def test_after_recovery_a_slow_window_later_on_still_fails() -> None:
    frame = log(slow=(0.0, 2.0))
    late = (frame["scheduled_at"] >= T0 + 9) & (frame["scheduled_at"] < T0 + 9.5)
    frame.loc[late, "latency_s"] = 0.4  # recovered at +2 s (stable for 3 s), slow again at +9 s
    m = judge(frame, judge_latency=AFTER)
    assert m.rto_s == pytest.approx(2.0) and m.worst_p99_judged_s == pytest.approx(0.4)
    check = latency_check(m, p99_ms=250)
    assert check.verdict is Verdict.FAIL and check.detail.startswith("worst p99 400 ms after recovery at +2.00 s")


def test_after_recovery_never_recovered_is_no_data() -> None:
    m = judge(log(slow=(0.0, 100.0)), judge_latency=AFTER)
    assert math.isinf(m.rto_s) and m.latency_judged_from is None and m.worst_p99_judged_s == 0.0
    check = latency_check(m, p99_ms=250)
    assert check.verdict is Verdict.NO_DATA and "never recovered" in check.detail and not check.passed


def check(**fields: object) -> SloCheck:
    return ADAPTER.validate_python({"name": "p99", "window_s": 5, **fields})


def test_a_prometheus_latency_slo_judges_only_the_points_from_since() -> None:
    latency = check(kind="latency", threshold_ms=250)
    points = [{"labels": {}, "points": [[1.0, 900.0], [9.9, 400.0], [10.0, 120.0], [12.0, 90.0]]}]
    everything = judge_slo(latency, points)
    assert (everything.verdict, everything.value, everything.since) == (Verdict.FAIL, 900.0, None)
    after = judge_slo(latency, points, since=10.0)
    assert (after.verdict, after.value, after.at, after.since) == (Verdict.PASS, 120.0, 10.0, 10.0)
    assert "from recovery on" in after.detail
    never = judge_slo(latency, points, since=math.inf)
    assert never.verdict is Verdict.NO_DATA and "never recovered" in never.detail
    assert never.model_dump(mode="json")["since"] == "never"


def _plan(tmp_path: Path, mode: JudgeLatency) -> DrillPlan:
    spec = DrillSpec.model_validate({
        "name": "region-outage",
        "environment": "drills/environments/local.yaml",
        "experiment": "chaos/region-outage.json",
        "load": {"trace": "loadtests/traces/drill.parquet"},
        "slo": {"judge_latency": mode.value},
        "recovery": {"rto_budget_s": 5},
        "cross_check": False,
        "slos": [
            {"name": "p99-latency", "kind": "latency", "threshold_ms": 250, "window_s": 5},
            {"name": "errors", "kind": "error_ratio", "max_ratio": 0.01, "window_s": 5},
        ],
    })
    environment = load_environment(REPO / "drills/environments/local.yaml")
    return DrillPlan(tmp_path / "drill.yaml", spec, environment, "", {}, None)  # type: ignore[arg-type]


def _evaluate(tmp_path: Path, mode: JudgeLatency) -> Path:
    """A region outage at +20 s (2 s of failed 0.5 s requests, RTO 2 s), with Prometheus points
    before and after ``fault_start + rto + window_s`` (+27 s), evaluated and written."""
    run = make_run(tmp_path / mode.value)
    _write_evaluated(run, _plan(tmp_path, mode), p99=((21, 500.0), (26.9, 400.0), (27, 100.0), (40, 120.0)),
                     errors=((21, 0.5), (40, 0.0)))  # fmt: skip
    return run


def _write_evaluated(run: Path, plan: DrillPlan, *, p99: tuple[tuple[float, float], ...],
                     errors: tuple[tuple[float, float], ...]) -> None:  # fmt: skip
    """Evaluate ``run`` with these stored Prometheus points (seconds after T0) and write its journal."""
    def series(points: tuple[tuple[float, float], ...]) -> dict[str, Any]:
        return {"series": [{"labels": {}, "points": [[RUN_T0 + t, v] for t, v in points]}]}

    stored = {"p99-latency": series(p99), "errors": series(errors)}
    record = RunRecord(chaos_journal={}, undone=[], capacity=None, interrupted=False, evidence={"slos": stored})
    evidence = Evidence(read_events(run / "timeline.jsonl"), read_request_log(run / "request_log"), record, RUN_T0 + 100)
    write_journal(run, evaluate(plan, evidence))


def test_evaluate_judges_prometheus_latency_after_recovery_and_the_journal_keeps_the_mode(tmp_path: Path) -> None:
    journal = read_journal(_evaluate(tmp_path, AFTER) / "journal.json")
    m = journal.measurements
    assert m is not None and m.rto_s == pytest.approx(2.0) and m.judge_latency is AFTER
    assert m.latency_judged_from == pytest.approx(RUN_T0 + 22.0) and m.worst_p99_judged_s < 0.25
    slos = {s.name: s for s in journal.slos}
    assert (slos["p99-latency"].verdict, slos["p99-latency"].value) == (Verdict.PASS, 120.0)
    assert slos["p99-latency"].since == pytest.approx(RUN_T0 + 27.0)
    assert slos["errors"].since is None and slos["errors"].verdict is Verdict.FAIL  # only latency follows the mode
    assert {c.name: c.verdict for c in journal.checks}["latency"] is Verdict.PASS


def test_evaluate_through_the_fault_judges_every_point(tmp_path: Path) -> None:
    journal = read_journal(_evaluate(tmp_path, THROUGH) / "journal.json")
    p99 = {s.name: s for s in journal.slos}["p99-latency"]
    assert (p99.verdict, p99.value, p99.since) == (Verdict.FAIL, 500.0, None)
    checks = {c.name: c for c in journal.checks}
    assert checks["latency"].verdict is Verdict.FAIL and "through the fault" in checks["latency"].detail


def test_the_new_fields_round_trip_and_the_report_shows_the_mode(tmp_path: Path) -> None:
    run = _evaluate(tmp_path, AFTER)
    first = read_journal(run / "journal.json")
    again = parse_journal(first.model_dump(mode="json"), where="again")
    assert again.measurements == first.measurements and again.slos == first.slos
    text = "".join(p.extract_text() for p in PdfReader(render_report(run, target=tmp_path / "r.pdf")).pages)
    assert "latency judged" in text and "after recovery (+2.00 s" in text


def test_old_journals_without_the_fields_load_and_say_so(tmp_path: Path) -> None:
    v2 = read_journal(make_run(tmp_path / "v2") / "journal.json")  # a v2 journal from before judge_latency
    v1 = load_run(OLD).journal  # schema 1, through the migration
    for m in (v2.measurements, v1.measurements):
        assert m is not None and (m.judge_latency, m.latency_judged_from, m.worst_p99_judged_s) == (None, None, None)
        assert latency_check(m, p99_ms=250).verdict is Verdict.NO_DATA
    assert all(s.since is None for s in v2.slos)


def test_the_drill_field_is_typed_and_every_shipped_drill_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load((REPO / "drills/node-crash.yaml").read_text())
    bad.write_text(yaml.safe_dump({**data, "slo": {**data["slo"], "judge_latency": "whenever"}}))
    with pytest.raises(SpecError) as error:
        load_drill(bad)
    assert "judge_latency" in str(error.value.field)
    modes = {p.stem: load_drill(p).slo.judge_latency for p in (REPO / "drills").glob("*.yaml")}
    assert all("judge_latency:" in (REPO / f"drills/{name}.yaml").read_text() for name in modes)
    assert {n for n, mode in modes.items() if mode is AFTER} == {"data-loss-restore", "corrupt-weights", "surge-3x", "failover-under-surge"}


def test_the_gateways_retry_counters_reach_the_journal_and_the_report(tmp_path: Path) -> None:
    """The timeline's counters (drill.py reads them at four phases) become the journal's ``gateway``."""
    from drillkit.events import GatewayCounted, emit

    run = make_run(tmp_path / "counted")
    for at, phase, requests, retries in ((1, "load_started", 10, 0), (15, "warmed_up", 510, 2),
                                         (60, "rollback_ended", 1400, 42), (70, "load_stopped", 1510, 42)):  # fmt: skip
        emit(run / "timeline.jsonl", GatewayCounted(at=RUN_T0 + at, phase=phase, requests=requests, retries=retries,  # type: ignore[arg-type]
                                                    redispatches=retries))  # fmt: skip
    record = RunRecord(chaos_journal={}, undone=[], capacity=None, interrupted=False, evidence=None)
    evidence = Evidence(read_events(run / "timeline.jsonl"), read_request_log(run / "request_log"), record, RUN_T0 + 100)
    write_journal(run, evaluate(_plan(tmp_path, THROUGH), evidence))
    gateway = read_journal(run / "journal.json").gateway
    assert gateway is not None and gateway.fault is not None and gateway.warmup is not None
    assert (gateway.fault.requests, gateway.fault.retries, gateway.warmup.retries) == (1000, 40, 2)
    assert gateway.budget_percent == 20.0 and gateway.within_budget is True  # 4 per 100 under local.yaml's 20
    text = "".join(p.extract_text() for p in PdfReader(render_report(run, target=tmp_path / "r.pdf")).pages)
    assert "40 retries, 40 redispatches of 1000 requests" in text


def _evaluate_after_burst(tmp_path: Path, *, burst_elapsed_s: float | None) -> dict[str, Any]:
    """A drill whose capacity burst ended at +15 s (fault at +20 s, SLO windows of 5 s): a point
    whose window holds the burst (+17 s, 600 ms), one at the fault, one slow through it (+22 s)."""
    from drillkit.events import CapacityChecked, emit

    run = make_run(tmp_path / f"burst-{burst_elapsed_s}")
    emit(run / "timeline.jsonl", CapacityChecked(at=RUN_T0 + 15, ok=True, reason="", burst_elapsed_s=burst_elapsed_s))
    _write_evaluated(run, _plan(tmp_path, THROUGH), p99=((17, 600.0), (20, 110.0), (22, 240.0), (40, 100.0)),
                     errors=((17, 0.5), (40, 0.0)))  # fmt: skip
    return {s.name: s for s in read_journal(run / "journal.json").slos}


def test_through_the_fault_a_latency_slo_skips_the_windows_that_hold_the_capacity_burst(tmp_path: Path) -> None:
    # On a shared machine the burst slows the users' requests: drillkit's doing, not the fault's.
    slos = _evaluate_after_burst(tmp_path, burst_elapsed_s=0.5)
    p99 = slos["p99-latency"]
    assert (p99.verdict, p99.value, p99.since) == (Verdict.PASS, 240.0, pytest.approx(RUN_T0 + 20.0))
    assert p99.detail.endswith("past the capacity pre-check")
    assert slos["errors"].since is None and slos["errors"].verdict is Verdict.FAIL  # errors are the users', burst or not
    # Without a burst (the pre-check refused before it) every point is judged.
    assert _evaluate_after_burst(tmp_path, burst_elapsed_s=None)["p99-latency"].value == 600.0


def test_the_runner_settles_a_latency_window_after_the_burst_and_no_more_than_the_cap() -> None:
    from drillkit.capacity import SETTLE_MAX_S, Capacity, settle_s

    base = {"ok": True, "reason": "", "standby_ready": 2, "standby_nodes": 2, "same_model": True,
            "warmup_rps": 80.0, "required_rps": 100.0}  # fmt: skip
    burst = Capacity.model_validate({**base, "burst_elapsed_s": 0.6})
    assert settle_s(burst, [3.0, 5.0]) == 5.0
    assert settle_s(burst, [600.0]) == SETTLE_MAX_S
    assert settle_s(burst, []) == 0.0  # no latency SLO judges the burst's windows
    assert settle_s(Capacity.model_validate(base), [5.0]) == 0.0  # no burst ran
