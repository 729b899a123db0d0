"""Background watchers of a running drill, each writing timeline events:

- ``GatewayWatcher`` samples the gateway's view of every node (runtime API) every 100 ms and
  records each change: TTD is read from these;
- ``Canary`` sends the model's golden probes through the gateway every half second: a
  region that answers fast with a stale or wrong model fails the drill.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from drillkit.events import fire
from drillkit.model.client import InferenceClient
from drillkit.smoke import send_probe
from drillkit.workload.golden import GoldenSet


class Loop:
    """A daemon thread calling ``tick`` every ``interval_s`` until ``stop``; errors are logged."""

    def __init__(self, interval_s: float, timeline: Path) -> None:
        self.interval_s = interval_s
        self.timeline = timeline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)  # a drill refused before its load started never started it

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a failing watcher is recorded; it never aborts the drill
                fire(self.timeline, "watcher_error", watcher=type(self).__name__, error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval_s)

    def tick(self) -> None:
        raise NotImplementedError


class GatewayWatcher(Loop):
    def __init__(self, servers: Callable[[], dict[str, str]], timeline: Path, interval_s: float = 0.1) -> None:
        super().__init__(interval_s, timeline)
        self.servers = servers
        self.last: dict[str, str] = {}

    def tick(self) -> None:
        now = self.servers()
        for node, state in now.items():
            if self.last.get(node) != state:
                fire(self.timeline, "gateway_state", node=node, state=state)
        self.last = now


class Canary(Loop):
    def __init__(self, gateway_url: str, golden: GoldenSet, timeline: Path, interval_s: float = 0.5) -> None:
        super().__init__(interval_s, timeline)
        self.client = InferenceClient(gateway_url, timeout_s=3.0)
        self.golden = golden
        self.probes = golden.interleaved()
        self._turn = 0

    def tick(self) -> None:
        result = send_probe(self.client, self.golden, self.probes[self._turn % len(self.probes)])
        self._turn += 1
        fire(self.timeline, "canary", model=result.model, region=result.region, node=result.node,
             wrong=result.wrong, error=result.error)  # fmt: skip


