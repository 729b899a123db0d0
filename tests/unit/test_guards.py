"""Abort guards on a fake clock: from the load generator's live numbers and from Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

from drillkit.load import LiveWindow
from drillkit.observe.client import PromClient
from drillkit.observe.guards import Abort, GuardWatch
from drillkit.spec.slo import AbortGuard
from tests.fakes.prometheus import serve_prometheus, vector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_loadgen_guard_trips_once_after_the_condition_held_for_its_duration(tmp_path: Path) -> None:
    clock, trips, live = Clock(), [], {"ratio": 0.0}
    guard = AbortGuard(name="storm", source="loadgen", signal="error_ratio", above=0.5, window_s=5, for_s=3)
    watch = GuardWatch([guard], prom=None, live=lambda w, now: LiveWindow(100, live["ratio"], 12.0),
                       timeline=tmp_path / "t.jsonl", on_trip=trips.append, clock=clock)  # fmt: skip
    watch.tick()
    assert trips == []  # not armed: nothing is evaluated outside the experiment
    watch.arm()
    for ratio, expect in ((0.9, 0), (0.9, 0), (0.1, 0), (0.9, 0), (0.9, 0), (0.9, 0), (0.9, 1), (0.9, 1)):
        live["ratio"] = ratio
        watch.tick()
        assert len(trips) == expect, (ratio, clock.now)
        clock.now += 1.0
    trip = trips[0]
    assert isinstance(trip, Abort) and trip.guard == "storm" and trip.source == "loadgen" and trip.value == 0.9
    assert "above 0.5 for 3.0 s" in trip.reason  # the dip to 0.1 restarted the count
    assert [e["event"] for e in events(tmp_path / "t.jsonl")] == ["abort"]


def test_no_live_numbers_never_trip(tmp_path: Path) -> None:
    trips: list[Abort] = []
    guard = AbortGuard(name="slow", source="loadgen", signal="p99_ms", above=500, for_s=0)
    watch = GuardWatch([guard], prom=None, live=lambda w, now: None, timeline=tmp_path / "t.jsonl", on_trip=trips.append)
    watch.arm()
    watch.tick()
    assert trips == [] and watch.tripped is None


def test_a_prometheus_guard_reads_its_query_and_trips_below_a_floor(tmp_path: Path) -> None:
    clock, trips = Clock(), []
    guard = AbortGuard(name="no-backends", source="prometheus", signal="backends_up", below=1, for_s=1)
    with serve_prometheus() as prom:
        query = 'sum(haproxy_server_status{proxy="triton",state="UP"})'
        prom.results[query] = [vector(0)]
        watch = GuardWatch([guard], prom=PromClient(prom.url), live=lambda w, now: None, timeline=tmp_path / "t.jsonl",
                           on_trip=trips.append, clock=clock)  # fmt: skip
        watch.arm()
        watch.tick()
        clock.now += 1.0
        watch.tick()
    assert [t.guard for t in trips] == ["no-backends"]
    assert {r["params"]["query"] for r in prom.seen} == {query}


def test_prometheus_down_is_recorded_and_does_not_trip(tmp_path: Path) -> None:
    trips: list[Abort] = []
    guard = AbortGuard(name="storm", source="prometheus", signal="error_ratio", above=0.5, for_s=0)
    watch = GuardWatch([guard], prom=PromClient("http://127.0.0.1:9", retries=0, timeout_s=1), live=lambda w, now: None,
                       timeline=tmp_path / "t.jsonl", on_trip=trips.append)  # fmt: skip
    watch.arm()
    watch.tick()
    watch.tick()
    assert trips == []
    recorded = events(tmp_path / "t.jsonl")
    assert [e["event"] for e in recorded] == ["guard_error"]  # once, not every second
    assert "unreachable" in str(recorded[0]["error"])
