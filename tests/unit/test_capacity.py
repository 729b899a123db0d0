"""The capacity pre-check measures the standby with a bounded burst; it does not estimate.

Each standby node is a FakeTriton (a real HTTP server on 127.0.0.1:0); the slow ones are
FakeTritons with one model instance that takes a fixed time per request, as a Triton node
with one instance executes one request at a time. The speeds sit 5x or more away from the
required rate on either side, so a busy machine cannot flip a verdict: the in-process fake
serves about 2,500 requests/s here, and the fast cases need 100.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import numpy as np

from drillkit.burst import BurstLimits, run_burst
from drillkit.capacity import HEADROOM, StandbyKnee, check
from drillkit.model.repository import Golden, Manifest, RecommendProbe, SearchProbe
from drillkit.platforms.base import ComponentKind, ComponentStatus, EnvironmentStatus, Health
from drillkit.workload.golden import GoldenSet, from_builtin
from tests.fakes.http import serve
from tests.fakes.triton import FakeTriton

FAST_WARMUP_RPS = 80.0  # requires 100 req/s of a standby that serves ~2,500
SLOW_WARMUP_RPS = 200.0  # requires 250 req/s of a standby that serves at most 50 (20 ms, one at a time)


SCORES = tuple(float(s) for s in np.linspace(1, 0, 10, dtype=np.float32))


def probe(user_id: int) -> RecommendProbe:
    return RecommendProbe(user_id, 10, tuple(range(user_id, user_id + 10)), SCORES)


def manifest(*recommend_users: int) -> GoldenSet:
    """Golden answers as FakeTriton computes them: ids user_id .. user_id + k - 1, scores 1 .. 0."""
    search = SearchProbe("red shoes", 8, 10, tuple(range(8, 18)), SCORES)
    golden = Golden(recommend=tuple(probe(u) for u in recommend_users or (5, 6, 7)), search=(search,))
    return from_builtin(Manifest(version="v1", created_at="t", params={}, files={}, golden=golden, sha256="x"))


def environment(*urls: str, ready: bool = True) -> EnvironmentStatus:
    """A primary node (never sent a request) and a standby node per URL; ``ready=False``: standby-0 is dead."""

    def node(name: str, region: str, url: str, health: Health) -> ComponentStatus:
        return ComponentStatus(
            name=name, kind=ComponentKind.NODE, region=region, health=health, endpoint=url, gateway_state="UP"
        )

    primary = node("primary-0", "primary", "http://127.0.0.1:1", Health.READY)
    standby = [
        node(f"standby-{i}", "standby", url, Health.READY if ready or i else Health.DEAD) for i, url in enumerate(urls)
    ]
    return EnvironmentStatus(environment="t", platform="fake", up=True, components=(primary, *standby))


def one_instance(delay_s: float) -> type[FakeTriton]:
    """A FakeTriton that answers one request at a time, each after ``delay_s``."""
    lock = threading.Lock()

    class OneInstance(FakeTriton):
        def do_POST(self) -> None:
            with lock:
                time.sleep(delay_s)
                try:
                    super().do_POST()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a burst's client that gave up at the time bound

    return OneInstance


class Counting(FakeTriton):
    posts = 0

    def do_POST(self) -> None:
        type(self).posts += 1
        super().do_POST()


class Failing(FakeTriton):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send(500, json.dumps({"error": "model instance failed"}).encode(), {})


class Shifted(FakeTriton):
    """Another model version for user 7: the same shape of answer, other items."""

    def _inputs(self, request: dict, blob: bytes) -> dict:  # type: ignore[type-arg]
        values = FakeTriton._inputs(request, blob)
        if values["user_id"] == 7:
            values["user_id"] += 1000
        return values


@contextmanager
def standbys(*handlers: type[FakeTriton]) -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(serve(h)) for h in handlers]


def test_a_fast_standby_shows_its_capacity_with_a_measured_burst() -> None:
    with standbys(FakeTriton, FakeTriton) as urls:
        report = check(environment(*urls), ["standby"], manifest(), FAST_WARMUP_RPS)
    assert report.ok and report.same_model, report.reason
    assert re.match(r"the standby served \d+ req/s in a \d+\.\d s burst, ", report.reason)
    assert report.reason.endswith("at least the 100 req/s required (1.25 x the 80 req/s of warm-up)")
    assert report.required_rps == HEADROOM * FAST_WARMUP_RPS == 100
    assert report.achieved_rps is not None and report.achieved_rps >= report.required_rps
    assert report.burst_ok == report.burst_requests == report.burst_planned == 100  # ~1 s at the required rate
    assert report.burst_errors == report.burst_wrong == 0 and report.concurrency == 4  # 2 per node
    assert report.burst_p50_ms is not None and report.burst_p99_ms is not None
    assert report.burst_p50_ms <= report.burst_p99_ms
    assert report.as_dict()["achieved_rps"] == report.achieved_rps  # JSON for the timeline and the journal


def test_a_slow_standby_is_refused_and_the_reason_names_both_rates() -> None:
    with standbys(one_instance(0.020)) as urls:
        report = check(environment(*urls), ["standby"], manifest(), SLOW_WARMUP_RPS, limits=BurstLimits(limit_s=1.0))
    assert not report.ok and report.same_model
    assert report.achieved_rps is not None and report.achieved_rps <= 50 < report.required_rps == 250
    assert re.match(r"the standby served \d+ req/s in a 1\.0 s burst \(\d+ requests at concurrency \d+", report.reason)
    assert "less than the 250 req/s required (1.25 x the 200 req/s of warm-up)" in report.reason
    assert report.probe_latency_ms is not None and report.probe_latency_ms >= 20
    # 2 x 250 req/s x ~20 ms: enough for 250 req/s had the node served requests in parallel
    assert report.concurrency == math.ceil(2 * 250 * report.probe_latency_ms / 1e3) >= 10
    assert "its cap" not in report.reason  # the node, not the burst's concurrency, was the limit


def test_a_standby_answering_500s_is_refused_without_a_burst() -> None:
    with standbys(FakeTriton, Failing) as urls:
        report = check(environment(*urls), ["standby"], manifest(), FAST_WARMUP_RPS)
    assert not report.ok and not report.same_model
    assert report.reason == "standby node standby-1 fails the golden recommend probe: HTTP 500: model instance failed"
    assert report.burst_requests is None  # nothing to measure


def test_errors_during_the_burst_refuse() -> None:
    with standbys(FakeTriton) as urls:  # FakeTriton answers user 13 with a 503
        report = check(environment(*urls), ["standby"], manifest(5, 13), FAST_WARMUP_RPS)
    assert not report.ok
    assert report.burst_requests == 100 and report.burst_errors == 33  # every third request is user 13's
    assert report.reason.startswith("33 of 100 burst requests to the standby failed")
    assert "HTTP 503: unavailable" in report.reason


def test_a_standby_answering_other_items_fails_same_model() -> None:
    with standbys(FakeTriton, Shifted) as urls:
        report = check(environment(*urls), ["standby"], manifest(), FAST_WARMUP_RPS)
    assert not report.ok and not report.same_model
    assert report.burst_wrong and report.burst_wrong > 0
    assert "differ from the golden answers: a standby node serves another model version" in report.reason


def test_other_items_on_the_golden_probe_itself_fail_before_the_burst() -> None:
    with standbys(Shifted) as urls:
        report = check(environment(*urls), ["standby"], manifest(7), FAST_WARMUP_RPS)
    assert not report.ok and not report.same_model and report.burst_requests is None
    assert ("standby node standby-0 answers the golden recommend probe differently (recommend probe 0: item_ids: "
            "row 0 shares 0 of 10 ids (needs 90%)): it serves another model version") in report.reason


def test_a_standby_node_not_ready_is_refused_before_any_request() -> None:
    with standbys(Counting, Counting) as urls:
        Counting.posts = 0
        report = check(environment(*urls, ready=False), ["standby"], manifest(), FAST_WARMUP_RPS)
    assert not report.ok and report.reason == "only 1 of 2 standby nodes are ready and UP at the gateway"
    assert Counting.posts == 0


def test_the_burst_stops_at_its_count() -> None:
    with standbys(Counting) as urls:
        Counting.posts = 0
        report = check(environment(*urls), ["standby"], manifest(), 8.0)  # 10 req/s required: the minimum count
    assert report.ok and report.burst_planned == report.burst_requests == 40
    assert Counting.posts == 2 + 40  # the two golden probes, then the burst and not one request more


class Stragglers(FakeTriton):
    """Fast, except the last ``slow_from``.. posts, which take ``delay_s``: the stragglers of a drain."""

    posts, slow_from, delay_s = 0, 39, 2.0
    lock = threading.Lock()

    def do_POST(self) -> None:
        with self.lock:
            type(self).posts += 1
            slow = self.posts >= self.slow_from
        if slow:
            time.sleep(self.delay_s)
        super().do_POST()


def test_the_rate_is_read_while_every_worker_is_busy_not_over_the_drain() -> None:
    Stragglers.posts = 0
    with standbys(Stragglers) as urls:  # 40 requests, 2 workers: posts 39 and 40 are the last two handed out
        burst = run_burst(urls, manifest(), rps=40.0, latency_s=0.001)
    assert (burst.planned, burst.concurrency, burst.ok) == (40, 2, 40)
    assert burst.elapsed_s >= Stragglers.delay_s  # the span waited for the stragglers ...
    assert burst.ok / burst.elapsed_s < 21  # ... which would have read the whole span at 20 req/s
    # ... but the rate is what 38 fast answers took: hundreds per second here, 60 even 25x slower
    assert burst.steady_s is not None and burst.steady_ok >= 37 and burst.achieved_rps > 60, burst


def test_the_burst_stops_at_its_time_bound_on_a_very_slow_standby() -> None:
    limits = BurstLimits()
    started = time.monotonic()
    with standbys(one_instance(0.25)) as urls:
        report = check(environment(*urls), ["standby"], manifest(), 100.0)
        took = time.monotonic() - started
    assert not report.ok
    assert took < 2 * 0.25 + limits.limit_s + 1.0  # two golden probes, the burst's bound, slack
    assert report.burst_elapsed_s is not None and report.burst_elapsed_s <= limits.limit_s + 0.05
    assert report.burst_requests is not None and report.burst_requests < report.burst_planned == 125
    assert report.achieved_rps == round(report.burst_ok / report.burst_elapsed_s, 1)  # never drained: the whole span


def test_the_limits_bound_count_and_size_concurrency_by_littles_law() -> None:
    limits = BurstLimits()
    assert (limits.requests_for(10), limits.requests_for(300), limits.requests_for(1e6)) == (40, 300, 2000)
    assert limits.concurrency_for(100, 0.001, nodes=3) == 6  # 2 per node
    assert limits.concurrency_for(250, 0.020, nodes=1) == 10  # 2 x R x latency
    assert limits.concurrency_for(1e4, 0.100, nodes=2) == 32  # capped


def test_a_measured_knee_below_the_need_refuses_before_any_request() -> None:
    """The knee (the history's, taken with as many nodes as the standby has now) outranks a
    short burst; a knee from another node count, or one the load generator limited, does not."""
    Counting.posts = 0
    with standbys(Counting, Counting) as urls:
        low = StandbyKnee(knee_rps=60.0, age_s=7200.0, nodes=2, limited_by="slo")
        report = check(environment(*urls), ["standby"], manifest(), FAST_WARMUP_RPS, knee=low)
        assert not report.ok and Counting.posts == 0
        assert "measured knee is 60 req/s with 2 nodes (2.0 h ago), below the 100 req/s required" in report.reason
        assert (report.standby_knee_rps, report.standby_knee_nodes, report.standby_knee_limited_by) == (60.0, 2, "slo")
        for other in (StandbyKnee(60.0, 60.0, 1, "slo"), StandbyKnee(60.0, 60.0, 2, "generator")):
            assert check(environment(*urls), ["standby"], manifest(), FAST_WARMUP_RPS, knee=other).ok, other
