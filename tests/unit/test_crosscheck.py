"""The Prometheus cross-check of TTD and RTO on synthetic series with exactly known answers."""

from __future__ import annotations

import math

from drillkit.crosscheck import cross_check, prom_rto, prom_ttd
from drillkit.measure import Measurements

T0 = 1000.0  # fault_start


def one(points: dict[float, float]) -> dict[str, object]:
    return {"series": [{"labels": {}, "points": [[t, v] for t, v in sorted(points.items())]}]}


def steps(bad_from: float, bad_to: float, *, start: float = T0 - 5, end: float = T0 + 20) -> dict[str, object]:
    """Error ratio 0 except 0.5 at steps in [bad_from, bad_to]; p99 fine throughout."""
    times = [start + i for i in range(int(end - start) + 1)]
    errors = {t: 0.5 if bad_from <= t <= bad_to else 0.0 for t in times}
    return {"error_ratio": one(errors), "latency_p99_ms": one({t: 40.0 for t in times})}


def measured(rto: float, ttd: float | None) -> Measurements:
    return Measurements(requests=1000, failed_requests=10, failed_during_incident=10, ttd_s=ttd, rto_s=rto,
                        outage_s=rto, worst_p99_s=0.1, error_budget_consumed=1.0, failback_s=1.0, resolution_s=0.1)  # fmt: skip


def test_rto_is_the_start_of_the_first_clean_rate_window() -> None:
    # Bad steps at T0+1..T0+4: errors ended just before T0+3 (the 2 s window of T0+5 is clean).
    rto = prom_rto(steps(T0 + 1, T0 + 4), fault_start=T0, error_budget=0.01, p99_slo_ms=250, stable_for_s=3, step_s=1, lag_s=2)
    assert rto == 3.0


def test_rto_zero_when_never_bad_and_inf_when_never_recovered_and_none_without_data() -> None:
    kwargs = {"fault_start": T0, "error_budget": 0.01, "p99_slo_ms": 250, "stable_for_s": 3, "step_s": 1, "lag_s": 2}
    assert prom_rto(steps(0, 0), **kwargs) == 0.0
    assert math.isinf(prom_rto(steps(T0 + 1, T0 + 100), **kwargs) or 0)
    assert prom_rto({}, **kwargs) is None


def test_slow_steps_count_as_bad() -> None:
    series = steps(0, 0)
    series["latency_p99_ms"] = one({T0 - 5 + i: (900.0 if T0 + 2 <= T0 - 5 + i <= T0 + 3 else 40.0) for i in range(26)})
    assert prom_rto(series, fault_start=T0, error_budget=0.01, p99_slo_ms=250, stable_for_s=3, step_s=1, lag_s=2) == 2.0


def test_ttd_is_the_first_step_a_faulted_server_is_not_up() -> None:
    servers = {"series": [
        {"labels": {"server": "primary-0", "state": "UP"}, "points": [[T0 - 1, 1], [T0, 1], [T0 + 1, 1], [T0 + 2, 0]]},
        {"labels": {"server": "standby-0", "state": "UP"}, "points": [[T0 + 1, 0]]},  # not faulted: ignored
    ]}  # fmt: skip
    assert prom_ttd({"gateway_servers_up": servers}, fault_start=T0, faulted={"primary-0"}) == 2.0
    assert prom_ttd({"gateway_servers_up": servers}, fault_start=T0, faulted={"primary-1"}) is None


def test_agreement_within_a_scrape_a_step_and_the_log_resolution_is_not_flagged_and_beyond_is() -> None:
    series = steps(T0 + 1, T0 + 4) | {"gateway_servers_up": {"series": [
        {"labels": {"server": "primary-0"}, "points": [[T0 + 1, 0]]}]}}  # fmt: skip
    kwargs = {"fault_start": T0, "faulted": {"primary-0"}, "injecting_since": None, "error_budget": 0.01,
              "p99_slo_ms": 250, "stable_for_s": 3, "scrape_interval_s": 1.0, "lag_s": 2}  # fmt: skip
    close = cross_check(measured(rto=2.5, ttd=0.3), series, **kwargs)
    assert (close.rto_prom_s, close.rto_diff_s, close.ttd_prom_s, close.flagged) == (3.0, 0.5, 1.0, False)
    far = cross_check(measured(rto=0.5, ttd=0.3), series, **kwargs)
    assert far.flagged and far.rto_diff_s == 2.5 and "more than 2.1 s" in far.note
    edge = cross_check(measured(rto=0.9, ttd=0.3), series, **kwargs)  # 2.1 s: a scrape + a step + 100 ms
    assert not edge.flagged and "agrees within 2.1 s" in edge.note
    never = cross_check(measured(rto=math.inf, ttd=0.3), series, **kwargs)
    assert never.flagged and never.model_dump(mode="json")["rto_log_s"] == "never"


def test_prometheus_is_compared_with_the_log_read_by_end_time() -> None:
    # Requests sent during the fault ended (timed out) 2 s later: by send time the log recovered
    # at 0.5 s, by end time at 2.5 s, as Prometheus' counters saw it (3.0): they agree.
    series = steps(T0 + 1, T0 + 4)
    kwargs = {"fault_start": T0, "faulted": set(), "injecting_since": None, "error_budget": 0.01,
              "p99_slo_ms": 250, "stable_for_s": 3, "scrape_interval_s": 1.0, "lag_s": 2}  # fmt: skip
    late = measured(rto=0.5, ttd=None).model_copy(update={"rto_ended_s": 2.5})
    checked = cross_check(late, series, **kwargs)
    assert (checked.rto_log_s, checked.rto_log_ended_s, checked.rto_diff_s, checked.flagged) == (0.5, 2.5, 0.5, False)


def test_a_step_whose_rate_window_began_before_the_injection_is_not_judged() -> None:
    # A slow step at T0+1 whose 2 s window began before the injection (T0) is a pre-fault blip;
    # the fault's harm shows at T0+6..T0+7: RTO is read from that, not from the blip.
    series = steps(T0 + 6, T0 + 7)
    series["latency_p99_ms"] = one({T0 - 5 + i: (900.0 if i == 6 else 40.0) for i in range(26)})
    kwargs = {"fault_start": T0, "error_budget": 0.01, "p99_slo_ms": 250, "stable_for_s": 3, "step_s": 1, "lag_s": 2}
    assert prom_rto(series, **kwargs) == 6.0
    assert prom_rto(series, **kwargs | {"since": T0 - 1}) == 0.0  # judged from before: the blip "recovered"
