"""Prometheus SLO verdicts from stored range data, and how they decide the exit code."""

from __future__ import annotations

from pydantic import TypeAdapter

from drillkit.errors import ExitCode
from drillkit.observe.slo import judge_slo
from drillkit.spec.slo import SloCheck
from drillkit.verdict import Check, Verdict, exit_code

ADAPTER: TypeAdapter[SloCheck] = TypeAdapter(SloCheck)


def check(**fields: object) -> SloCheck:
    return ADAPTER.validate_python({"name": "c", "window_s": 10, **fields})


def series(*points: tuple[float, float]) -> list[dict[str, object]]:
    return [{"labels": {}, "points": [list(p) for p in points]}]


def test_the_worst_step_decides_a_ceiling_and_is_stored_with_its_query() -> None:
    result = judge_slo(check(kind="latency", threshold_ms=250), series((1, 120.0), (2, 310.0), (3, 90.0)))
    assert (result.verdict, result.value, result.at) == (Verdict.FAIL, 310.0, 2.0)
    assert result.query.startswith("1000 * histogram_quantile(0.99") and result.window_s == 10
    assert result.model_dump(mode="json")["source"] == "prometheus" and result.model_dump(mode="json")["verdict"] == "FAIL"


def test_the_worst_step_of_a_floor_is_the_lowest() -> None:
    result = judge_slo(check(kind="availability", min_ratio=0.99), series((1, 1.0), (2, 0.995), (3, 1.0)))
    assert (result.verdict, result.value) == (Verdict.PASS, 0.995)


def test_last_and_mean() -> None:
    share = check(kind="traffic_share", region="primary", min_share=0.95, evaluate="last")
    assert judge_slo(share, series((1, 0.0), (2, 0.2), (3, 0.97))).verdict is Verdict.PASS
    mean = check(kind="error_ratio", max_ratio=0.01, evaluate="mean")
    assert judge_slo(mean, series((1, 0.0), (2, 0.03))).value == 0.015


def test_an_empty_result_is_no_data_and_fails_unless_allowed() -> None:
    strict = judge_slo(check(kind="gpu_utilization", max_ratio=0.9), [])
    assert strict.verdict is Verdict.NO_DATA and "no data" in strict.detail
    missing = judge_slo(check(kind="error_ratio", max_ratio=0.01), None, error="Prometheus at http://x is unreachable")
    assert missing.verdict is Verdict.NO_DATA and "unreachable" in missing.detail
    allowed = judge_slo(check(kind="gpu_utilization", max_ratio=0.9, allow_no_data=True), [])
    checks = [Check(name="rollback", verdict=Verdict.PASS, detail="ok"), Check(name=f"slo:{strict.name}", verdict=strict.verdict, detail=strict.detail, allowed_no_data=strict.allow_no_data)]
    assert exit_code(checks, interrupted=False) is ExitCode.DRILL_FAILED
    checks[1] = Check(name="slo:c", verdict=allowed.verdict, detail=allowed.detail, allowed_no_data=allowed.allow_no_data)
    assert exit_code(checks, interrupted=False) is ExitCode.OK


def test_a_burn_rate_detection_test_passes_only_when_the_alert_fired() -> None:
    quiet = check(kind="burn_rate", objective=0.999)
    assert judge_slo(quiet, series((1, 0.2), (2, 0.4))).verdict is Verdict.PASS
    assert judge_slo(quiet, series((1, 0.2), (2, 1.7))).verdict is Verdict.FAIL
    detect = check(kind="burn_rate", objective=0.999, expect_fire=True)
    assert judge_slo(detect, series((1, 0.2), (2, 1.7))).verdict is Verdict.PASS
    assert judge_slo(detect, series((1, 0.2), (2, 0.4))).verdict is Verdict.FAIL
