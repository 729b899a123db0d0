"""Every measurement on synthetic request logs whose answers are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from drillkit.measure import failback, measure, outage, rto, sliding, ttd, windows

T0 = 1_000.0  # the fault starts here


def log(rate: float = 100.0, seconds: float = 20.0, *, bad: tuple[float, float] | None = None, slow: tuple[float, float] | None = None,
        standby: tuple[float, float] | None = None) -> pd.DataFrame:  # fmt: skip
    """Requests every 1/rate s from T0-5 s; failed inside ``bad``, 1 s slow inside ``slow``,
    served by the standby inside ``standby`` (offsets from T0)."""
    at = T0 - 5 + np.arange(int(seconds * rate)) / rate
    rel = at - T0
    inside = lambda span: (rel >= span[0]) & (rel < span[1]) if span else np.zeros(len(at), bool)  # noqa: E731
    failed, late, moved = inside(bad), inside(slow), inside(standby)
    return pd.DataFrame({
        "row": np.arange(len(at)), "kind": "recommend", "scheduled_at": at, "sent_at": at,
        "latency_s": np.where(late, 1.0, 0.005), "outcome": np.where(failed, "error", "ok"),
        "error_class": np.where(failed, "http_5xx", ""), "status": np.where(failed, 503, 200),
        "region": np.where(moved, "standby", "primary"), "node": "n", "worker": "w",
    })  # fmt: skip


def judge(frame: pd.DataFrame, **kw: object):  # type: ignore[no-untyped-def]
    args = {"fault_start": T0, "rollback_end": None, "gateway_changes": [], "faulted": set(), "primary": "primary", "window_s": 1.0,
            "p99_slo_s": 0.25, "error_budget": 0.01, "stable_for_s": 3.0} | kw  # fmt: skip
    return measure(frame, **args)  # type: ignore[arg-type]


def test_an_outage_of_exactly_3_s_gives_rto_3_and_outage_3() -> None:
    m = judge(log(bad=(0.0, 3.0)))
    assert m.rto_s == pytest.approx(3.0)
    assert m.outage_s == pytest.approx(3.0, abs=0.011)  # request spacing is 10 ms
    assert m.failed_requests == 300 and m.failed_during_incident == 300
    assert m.requests == 2000


def test_no_bad_window_means_rto_zero() -> None:
    m = judge(log())
    assert (m.rto_s, m.outage_s, m.failed_requests) == (0.0, 0.0, 0)


def test_never_recovering_is_infinite() -> None:
    assert math.isinf(judge(log(bad=(0.0, 100.0))).rto_s)


def test_recovery_needs_stable_for_seconds_of_good_windows() -> None:
    flapping = log(bad=(0.0, 2.0))
    flapping.loc[(flapping["scheduled_at"] >= T0 + 3) & (flapping["scheduled_at"] < T0 + 4), "outcome"] = "error"
    # good at 2-3 s but bad again at 3-4 s: recovery is at 4 s, not 2 s
    assert judge(flapping).rto_s == pytest.approx(4.0, abs=0.1)
    assert judge(flapping, stable_for_s=1.0).rto_s == pytest.approx(2.0, abs=0.1)


def test_slow_windows_are_bad_too() -> None:
    m = judge(log(slow=(1.0, 2.5)))
    assert m.failed_requests == 0
    assert m.rto_s == pytest.approx(2.5, abs=0.1)  # every window holding two slow requests breaches the p99 SLO
    assert m.worst_p99_s == pytest.approx(1.0)
    assert m.outage_s == pytest.approx(1.5, abs=0.011)


def test_error_budget_tolerates_a_few_errors_per_window() -> None:
    frame = log()
    hit = frame.index[(frame["scheduled_at"] >= T0) & (frame["scheduled_at"] < T0 + 1)][:1]
    frame.loc[hit, "outcome"] = "error"  # 1 of 100 in a window: within a 1% budget
    assert judge(frame).rto_s == 0.0
    assert judge(frame, error_budget=0.005).rto_s == pytest.approx(0.1)  # the next 100 ms step holds no error
    assert judge(frame).error_budget_consumed == pytest.approx(1 / (0.01 * 2000))


def test_ttd_is_the_first_down_of_a_faulted_node_after_the_fault() -> None:
    changes = [{"at": T0 - 1, "node": "p0", "state": "DOWN"}, {"at": T0 + 0.4, "node": "s0", "state": "DOWN"},
               {"at": T0 + 0.7, "node": "p0", "state": "GOING_DOWN"}, {"at": T0 + 0.9, "node": "p0", "state": "DOWN"}]  # fmt: skip
    assert ttd(changes, T0, {"p0"}) == pytest.approx(0.9)
    assert ttd(changes, T0, {"p1"}) is None


def test_failback_is_when_the_primary_serves_95_percent_again() -> None:
    frame = log(standby=(0.0, 6.0))
    ws = windows(frame, window_s=1.0, p99_slo_s=0.25, error_budget=0.01, primary="primary", origin=T0)
    assert failback(ws, T0 + 4.0) == pytest.approx(2.0)
    assert failback(ws, None) is None
    everywhere = windows(log(standby=(0, 100)), window_s=1.0, p99_slo_s=0.25, error_budget=0.01, primary="primary")
    assert math.isinf(failback(everywhere, T0))


def test_failback_waits_for_the_environments_primary_whatever_it_is_called() -> None:
    frame = log(standby=(0.0, 6.0))
    frame["region"] = frame["region"].map({"primary": "us-east-1", "standby": "eu-west-1"})
    m = judge(frame, rollback_end=T0 + 4.0, primary="us-east-1")
    assert m.failback_s == pytest.approx(2.0, abs=0.1)
    assert math.isinf(judge(frame, rollback_end=T0 + 4.0).failback_s)  # "primary" serves nothing here


@pytest.mark.parametrize("outage_s", [0.35, 3.0, 6.5, 6.59])
def test_rto_is_read_at_100_ms_not_at_the_window(outage_s: float) -> None:
    m = judge(log(seconds=30.0, bad=(0.0, outage_s)))
    assert m.resolution_s == 0.1 and m.window_s == 1.0
    assert m.rto_s == pytest.approx(outage_s, abs=0.1)
    assert m.outage_s == pytest.approx(outage_s, abs=0.011)


def test_windows_align_to_the_origin_and_count() -> None:
    ws = windows(log(seconds=2.0), window_s=0.5, p99_slo_s=0.25, error_budget=0.0, primary="primary", origin=T0 - 5)
    assert [w.start - T0 for w in ws] == [-5.0, -4.5, -4.0, -3.5]
    assert all(w.requests == 50 and w.good for w in ws)
    assert rto(ws, T0, stable_for_s=1, window_s=0.5) == 0.0


def test_outage_counts_slow_requests_and_ends_at_the_next_good_request() -> None:
    frame = log(bad=(0.5, 0.8))
    assert outage(frame, T0, p99_slo_s=0.25) == pytest.approx(0.3, abs=0.011)  # one request spacing


def test_a_node_marked_down_during_a_multi_node_injection_is_detected_at_once() -> None:
    changes = [{"at": T0 - 0.05, "node": "p0", "state": "DOWN"}]
    assert ttd(changes, T0, {"p0"}) is None  # before the fault, with no injection window
    assert ttd(changes, T0, {"p0"}, injecting_since=T0 - 0.2) == 0.0


def test_users_hurt_while_the_fault_is_being_injected_count_in_the_incident() -> None:
    # Killing a region's nodes one by one took 0.5 s; requests failed and were slow during it,
    # and the standby served from fault_start (the end of the injection) on.
    frame = log(bad=(-0.4, -0.2), slow=(-0.2, -0.1))
    m = judge(frame, injecting_since=T0 - 0.5)
    failed = int((frame["outcome"] != "ok").sum())
    assert failed >= 20 and m.failed_during_incident == failed == m.failed_requests
    assert m.worst_p99_s == pytest.approx(1.0)
    assert m.outage_s == pytest.approx(0.31)  # from the first failed request to the first good one after the slow ones
    assert m.rto_s == 0.0  # already recovered when the injection ended
    blind = judge(frame)  # without the injection's start, the incident would begin after the harm
    assert blind.failed_during_incident == 0 and blind.worst_p99_s < 0.25


def test_sliding_windows_with_a_step_of_the_window_are_the_tumbling_ones() -> None:
    frame = log(bad=(0.0, 2.0), standby=(0.0, 4.0))
    judged = {"window_s": 1.0, "p99_slo_s": 0.25, "error_budget": 0.01, "primary": "primary", "origin": T0}
    assert sliding(frame, step_s=1.0, **judged) == windows(frame, **judged)


def test_rto_by_end_time_places_a_timed_out_request_where_it_ended() -> None:
    # Failed for 1 s, and each failed request took 2 s to fail (a timeout): users sent good
    # requests again from 1 s, but counters, which count a request when it ends, see errors
    # until 3 s. The verdict's RTO is by send time; rto_ended_s is what Prometheus can match.
    frame = log(bad=(0.0, 1.0))
    failed = frame["outcome"] != "ok"
    frame.loc[failed, "latency_s"] = 2.0
    m = judge(frame, p99_slo_s=5.0, stable_for_s=2.0)
    assert m.rto_s == pytest.approx(1.0, abs=0.011)
    assert m.rto_ended_s == pytest.approx(3.0, abs=0.011)


def test_rto_by_end_time_ignores_a_slow_request_before_the_fault() -> None:
    # A slow request just before the fault ends before it; the fault's timeouts (sent at 0-0.3 s,
    # ended 2 s later) come after a quiet stretch that must not read as recovery from the blip.
    frame = log()
    frame.loc[(frame["scheduled_at"] >= T0 - 0.8) & (frame["scheduled_at"] < T0 - 0.75), "latency_s"] = 0.3
    frame.loc[(frame["scheduled_at"] >= T0) & (frame["scheduled_at"] < T0 + 0.3), "latency_s"] = 2.0
    m = judge(frame, stable_for_s=2.0, injecting_since=T0 - 0.05)
    assert m.rto_ended_s == pytest.approx(2.3, abs=0.011)
