"""Per-try timeouts: derived from a busy node's latency, clamped, and warned about at warm-up."""

from __future__ import annotations

from drillkit.spec import GatewaySpec
from drillkit.try_timeout import derive, fixed, warmup_warnings


def test_a_timeout_is_factor_times_the_p999_within_floor_and_server_timeout() -> None:
    spec = GatewaySpec(try_timeout_factor=3.0, try_timeout_floor_ms=100, server_timeout_ms=1000)
    tuned = derive({"recommend": [10.0] * 998 + [20.0] * 2, "search": [80.0] * 1000, "heavy": [900.0]}, spec, node="primary-0")
    # 3 x 20 = 60 -> the floor; 3 x 80 = 240; 3 x 900 = 2700 -> the server timeout
    assert tuned.models == {"recommend": 100, "search": 240, "heavy": 1000}
    assert tuned.p999_ms == {"recommend": 20.0, "search": 80.0, "heavy": 900.0}
    assert tuned.source == "derived" and tuned.node == "primary-0" and tuned.samples["search"] == 1000


def test_the_p999_counts_the_slowest_requests_not_the_typical_one() -> None:
    # a heavy search: most answers at 30 ms, one in a hundred at 400 ms; the timeout must cover those
    tuned = derive({"search": [30.0] * 99 + [400.0]}, GatewaySpec(try_timeout_factor=2.0))
    assert tuned.models["search"] == 800


def test_a_model_without_samples_keeps_the_server_timeout() -> None:
    assert derive({"search": []}, GatewaySpec(server_timeout_ms=1500)).models == {"search": 1500}


def test_a_fixed_timeout_applies_to_every_model() -> None:
    assert fixed(GatewaySpec(try_timeout_ms=150)).models == {"recommend": 150, "search": 150}
    assert fixed(GatewaySpec(try_timeout_ms=150)).source == "fixed"
    assert fixed(GatewaySpec()).source == "server-timeout"


def test_a_warning_names_each_model_whose_warmup_p999_exceeds_its_timeout() -> None:
    warnings = warmup_warnings({"recommend": 100, "search": 150}, {"recommend": 40.0, "search": 210.0})
    assert len(warnings) == 1
    assert "search (150 ms) is below its warm-up p99.9 (210 ms)" in warnings[0]
    assert warmup_warnings({"recommend": 100}, {"recommend": 100.0}) == []


# --- the journal's view of the gateway's retries ------------------------------------------

from drillkit.events import GatewayCounted  # noqa: E402
from drillkit.retries import gateway_retries  # noqa: E402


def _counted(phase: str, requests: int, retries: int, at: float) -> GatewayCounted:
    return GatewayCounted(at=at, phase=phase, requests=requests, retries=retries, redispatches=retries)  # type: ignore[arg-type]


def test_retries_are_kept_for_the_warmup_and_for_the_fault_against_the_budget() -> None:
    events = [_counted("load_started", 10, 0, 1), _counted("warmed_up", 510, 1, 6),
              _counted("rollback_ended", 1300, 81, 14), _counted("load_stopped", 1510, 81, 19)]  # fmt: skip
    record = gateway_retries(events, budget_percent=5.0)
    assert record is not None and record.warmup is not None and record.fault is not None
    assert (record.warmup.requests, record.warmup.retries) == (500, 1)
    assert (record.fault.requests, record.fault.retries, record.fault.ratio) == (1000, 80, 0.08)
    assert record.within_budget is False
    assert gateway_retries(events, budget_percent=20.0).within_budget is True  # type: ignore[union-attr]
    assert gateway_retries(events, budget_percent=0.0).within_budget is None  # type: ignore[union-attr]


def test_a_restarted_gateway_gives_no_difference_and_no_counters_give_no_record() -> None:
    events = [_counted("warmed_up", 900, 5, 1), _counted("load_stopped", 100, 0, 9)]
    assert gateway_retries(events, budget_percent=20.0).fault is None  # type: ignore[union-attr]
    assert gateway_retries([], budget_percent=20.0) is None
