"""The autoscaler a drill runs for the embedded platform (the environment's ``autoscale:``).

Every ``interval_s`` it reads the p99 users feel (the load generator's own numbers, or its
histogram in Prometheus); once it has stayed above ``above_ms`` for ``for_s``, it scales the
serving region (the primary while any of its nodes is UP at the gateway, else the first
standby that is) out by ``step`` nodes, up to the region's ``max_nodes``, and waits
``cooldown_s`` before it may again. Each scale-out records its undo first (back to the nodes
the region had: the drill's rollback scales in, drained) and a ``scaled`` event with its
times. In ``observe`` mode it scales nothing and records each region's nodes when they
change (a HorizontalPodAutoscaler's work, on Kubernetes).

>>> Autoscaler(platform, spec.autoscale, signal=loadgen_p99(load), timeline=run / "timeline.jsonl").start()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from drillkit.events import fire
from drillkit.load import Load
from drillkit.observe.client import PromClient
from drillkit.platforms.base import Platform
from drillkit.spec.autoscale import AutoscaleSpec
from drillkit.watch import Loop

Signal = Callable[[float], float | None]  # now -> the p99 in ms (None: nothing to read yet)


def loadgen_p99(load: Load, window_s: float) -> Signal:
    def read(now: float) -> float | None:
        live = load.recent(window_s, now)
        return live.p99_ms if live is not None and live.requests else None

    return read


def prometheus_p99(prom: PromClient, window_s: float) -> Signal:
    query = f"histogram_quantile(0.99, sum by (le) (rate(drillkit_client_request_seconds_bucket[{max(window_s, 2):g}s])))"

    def read(now: float) -> float | None:
        values = [v for s in prom.instant(query, at=now) for _, v in s.points[-1:] if v == v]  # NaN: no requests
        return values[0] * 1e3 if values else None

    return read


class Autoscaler(Loop):
    """See the module docstring."""

    def __init__(self, platform: Platform, spec: AutoscaleSpec, *, signal: Signal, timeline: Path) -> None:
        super().__init__(spec.interval_s, timeline)
        self.platform, self.spec, self.signal = platform, spec, signal
        self._above_since: float | None = None
        self._quiet_until = 0.0
        self._seen: dict[str, tuple[int, int]] = {}

    def tick(self) -> None:
        if self.spec.mode == "observe":
            return self._observe()
        now = time.time()
        value = self.signal(now)
        if value is None or value <= self.spec.above_ms:
            self._above_since = None
            return None
        self._above_since = self._above_since or now
        if now - self._above_since >= self.spec.for_s and now >= self._quiet_until:
            self._scale_out(value)
        return None

    def _scale_out(self, value: float) -> None:
        region = self._serving_region()
        spec = next(r for r in self.platform.spec.regions if r.name == region)
        nodes = len(self.platform.node_names(region))
        wanted = min(nodes + self.spec.step, spec.max_nodes or spec.nodes)
        self._above_since, self._quiet_until = None, time.time() + self.spec.cooldown_s
        if wanted <= nodes:
            fire(self.timeline, "scale_refused", region=region, nodes=nodes, reason=f"at max_nodes ({nodes})", p99_ms=value)
            return
        self.platform.undo_log().record("autoscale", "scale_region", {"region": region, "nodes": nodes})
        result = self.platform.scale_region(region, wanted)
        fire(self.timeline, "scaled", region=region, from_nodes=result.from_nodes, to_nodes=result.to_nodes, nodes=result.nodes,
             requested_at=result.requested_at, ready_at=result.ready_at, serving_at=result.serving_at, trigger_p99_ms=value)  # fmt: skip
        self._quiet_until = time.time() + self.spec.cooldown_s

    def _serving_region(self) -> str:
        states = self.platform.gateway_states()
        for region in [self.platform.spec.primary, *self.platform.spec.standbys]:
            if any(states.get(n) == "UP" for n in self.platform.node_names(region.name)):
                return region.name
        return self.platform.spec.primary.name

    def _observe(self) -> None:
        for region in self.platform.spec.regions:
            nodes, ready = self.platform.live_nodes(region.name)
            if self._seen.get(region.name) != (nodes, ready):
                fire(self.timeline, "replicas", region=region.name, nodes=nodes, ready=ready)
                self._seen[region.name] = (nodes, ready)
