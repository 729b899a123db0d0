"""A short, bounded burst of golden probes sent straight to some nodes: what do they serve?

Closed loop, as fast as the nodes answer: ``concurrency`` workers (each with its own
keep-alive ``InferenceClient``, bound to one node in turn) take request numbers from one
shared count until ``planned`` requests were sent or ``limit_s`` passed, whichever is first.

The achieved throughput is read while every worker was busy: from the start to the moment the
last request was handed out, the correct answers by then per second. At that moment
``concurrency`` requests are still in flight whatever the rate, so the drain that follows
measures only the slowest of them: one straggler at the end of a 100-request burst lengthened
its span by a fifth and refused a standby with 1.5 x headroom on a busy CI machine. A burst cut
short by its time bound never drains early and is read over its whole span.

Every worker draws from the same count, so a slow node's share goes to the faster ones, as
the gateway's ``balance leastconn`` does: the burst measures the nodes' total.

>>> burst = run_burst(["http://127.0.0.1:8001"], golden, rps=110.0, latency_s=0.004)  # doctest: +SKIP
>>> burst.planned, burst.concurrency                                                    # doctest: +SKIP
(110, 2)
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict

from drillkit.model.client import InferenceClient
from drillkit.workload.golden import GoldenProbe, GoldenSet


class BurstLimits(BaseModel):
    """How large a burst may get: enough requests for ``target_s`` at the required rate,
    within ``min_requests`` .. ``max_requests``, and never longer than ``limit_s``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_s: float = 1.0
    min_requests: int = 40  # below this, a p99 and a rate are noise
    max_requests: int = 2000
    limit_s: float = 3.0
    per_node: int = 2
    max_concurrency: int = 32

    def requests_for(self, rps: float) -> int:
        """The count bound for a required rate ``rps``."""
        return min(self.max_requests, max(self.min_requests, math.ceil(rps * self.target_s)))

    def concurrency_for(self, rps: float, latency_s: float, nodes: int) -> int:
        """Workers for a required rate ``rps`` when one request takes ``latency_s``.

        Closed-loop workers complete at most ``concurrency / latency`` requests/s (Little's
        law), so reaching ``rps`` needs ``rps x latency`` of them: a standby behind a slow
        link (the API server's proxy on Kubernetes) has high latency but may serve plenty in
        parallel. Twice that leaves room for latency that rises under the burst; at least
        ``per_node`` per node keeps every node busy; the cap bounds the threads here and the
        extra load on the standby. When the cap binds, the refusal says so.
        """
        floor = self.per_node * nodes
        return max(floor, min(self.max_concurrency, math.ceil(2 * rps * latency_s)))


DEFAULT_LIMITS = BurstLimits()  # frozen: one shared default is safe


@dataclass
class Burst:
    """What a burst sent and what came back (latencies of the correct answers, in ms)."""

    planned: int
    concurrency: int
    completed: int = 0
    ok: int = 0
    errors: int = 0
    wrong: int = 0
    first_error: str | None = None
    elapsed_s: float = 0.0
    # When the count ran out (s after the start) and the correct answers by then; None: it never did
    steady_s: float | None = None
    steady_ok: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    by_model: dict[str, list[float]] = field(default_factory=dict, repr=False)  # the same latencies, per model

    @property
    def achieved_rps(self) -> float:
        """Correct answers per second while every worker was busy (the whole span if the count
        never ran out, or ran out before a single answer)."""
        if self.steady_s is not None and self.steady_s > 0 and self.steady_ok > 0:
            return self.steady_ok / self.steady_s
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def p50_ms(self) -> float | None:
        return quantile(self.latencies_ms, 0.50)

    @property
    def p99_ms(self) -> float | None:
        return quantile(self.latencies_ms, 0.99)


def run_burst(
    endpoints: list[str], golden: GoldenSet, *, rps: float, latency_s: float, limits: BurstLimits = DEFAULT_LIMITS
) -> Burst:
    """Send the golden probes round-robin to ``endpoints`` and measure the answers.

    Returns within about ``limits.limit_s``: requests still in flight then are left to their
    workers (daemon threads whose clients time out after ``limit_s``) and not counted.
    """
    burst = Burst(limits.requests_for(rps), limits.concurrency_for(rps, latency_s, len(endpoints)))
    # Each probe is encoded once; the models take turns, so a burst cut short by its count or
    # time bound still measures each of them.
    run = _Run(golden, golden.interleaved(), burst)
    clients = [InferenceClient(endpoints[i % len(endpoints)], timeout_s=limits.limit_s) for i in range(burst.concurrency)]
    run.start(len(clients), limits.limit_s)
    for i, client in enumerate(clients):
        threading.Thread(target=run.work, args=(client,), name=f"capacity-burst-{i}", daemon=True).start()
    return run.wait()


class _Run:
    """The state the workers share; every change under one lock."""

    def __init__(self, golden: GoldenSet, probes: list[GoldenProbe], burst: Burst) -> None:
        self.golden, self.probes, self.burst = golden, probes, burst
        self.lock, self.done = threading.Lock(), threading.Event()
        self.numbers = itertools.count()
        self.started = self.deadline = 0.0
        self.running = 0

    def start(self, workers: int, limit_s: float) -> None:
        self.running, self.started = workers, time.monotonic()
        self.deadline = self.started + limit_s

    def wait(self) -> Burst:
        self.done.wait(max(0.0, self.deadline - time.monotonic()))
        with self.lock:  # a snapshot: answers that arrive after the deadline are not counted
            elapsed = min(time.monotonic(), self.deadline) - self.started
            burst = replace(self.burst, latencies_ms=list(self.burst.latencies_ms), elapsed_s=elapsed,
                            by_model={m: list(v) for m, v in self.burst.by_model.items()})
            self.deadline = 0.0  # tells late workers to stop and record nothing more
        return burst

    def work(self, client: InferenceClient) -> None:
        try:
            while (number := self._next()) is not None:
                probe = self.probes[number % len(self.probes)]
                reply = client.send(probe.request)
                wrong = reply.outputs is not None and self.golden.compare(probe, reply.outputs) is not None
                self._record(probe.model, reply.latency_s * 1e3, reply.error, wrong)
        finally:
            client.close()
            with self.lock:
                self.running -= 1
                if self.running == 0:
                    self.done.set()

    def _next(self) -> int | None:
        with self.lock:
            number, now = next(self.numbers), time.monotonic()
            if number >= self.burst.planned or now >= self.deadline:
                return None
            if number == self.burst.planned - 1:  # the last one handed out: the workers start to drain
                self.burst.steady_s, self.burst.steady_ok = now - self.started, self.burst.ok
            return number

    def _record(self, model: str, latency_ms: float, error: str | None, wrong: bool) -> None:
        with self.lock:
            if time.monotonic() >= self.deadline:
                return
            b = self.burst
            b.completed += 1
            if error is not None:
                b.errors += 1
                b.first_error = b.first_error or error
            elif wrong:
                b.wrong += 1
            else:
                b.ok += 1
                b.latencies_ms.append(latency_ms)
                b.by_model.setdefault(model, []).append(latency_ms)


def quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile of ``values`` (None when empty), to 0.01."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 2)


__all__ = ["DEFAULT_LIMITS", "Burst", "BurstLimits", "quantile", "run_burst"]
