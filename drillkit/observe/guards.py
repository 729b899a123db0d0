"""Abort guards: stop the fault and roll back at once when users are hurt beyond a bound.

Each guard watches one signal, from Prometheus or from the load generator's own request
log (so a drill can stop even when Prometheus is the casualty), every second while the
experiment runs. When a guard's condition has held for ``for_s``, the watch records an
``abort`` event in the timeline and calls ``on_trip`` once; the drill then interrupts
Chaos Toolkit, whose rollbacks run, and its own rollback follows.

>>> watch = GuardWatch(spec.abort, prom=client, live=load.recent, timeline=path, on_trip=stop)  # doctest: +SKIP
>>> watch.start(); watch.arm()                                                               # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from drillkit.events import GuardError, GuardTripped, emit
from drillkit.observe.client import PromClient, PrometheusError
from drillkit.observe.promql import guard_query
from drillkit.spec.slo import AbortGuard, GuardSignal, GuardSource
from drillkit.units import Record
from drillkit.watch import Loop


class Live(Protocol):
    """The load generator's numbers over the last ``window_s`` (None: nothing logged yet)."""

    def __call__(self, window_s: float, now: float) -> Any: ...


class Abort(Record):
    """The guard that stopped the drill: the watch's trip, as the journal keeps it."""

    tripped: bool = True
    guard: str
    source: str
    signal: str
    value: float
    reason: str
    at: float


class GuardWatch(Loop):
    """Evaluates every guard once a second while armed; trips at most once.

    Attributes: ``guards``, ``tripped`` (the Abort, or None), ``armed``.
    """

    def __init__(self, guards: Sequence[AbortGuard], *, prom: PromClient | None, live: Live, timeline: Path,
                 on_trip: Callable[[Abort], None], clock: Callable[[], float] = time.time,
                 interval_s: float = 1.0) -> None:  # fmt: skip
        super().__init__(interval_s, timeline)
        self.guards = tuple(guards)
        self.prom, self.live, self.on_trip, self.clock = prom, live, on_trip, clock
        self.armed = False
        self.tripped: Abort | None = None
        self._since: dict[str, float] = {}
        self._errors: dict[str, str] = {}

    def arm(self) -> None:
        self.armed = True

    def disarm(self) -> None:
        self.armed = False

    def tick(self) -> None:
        if not self.armed or self.tripped is not None:
            return
        now = self.clock()
        for guard in self.guards:
            value = self._value(guard, now)
            if value is None or not guard.tripped_by(value):
                self._since.pop(guard.name, None)
                continue
            since = self._since.setdefault(guard.name, now)
            if now - since >= guard.for_s:
                self._trip(guard, value, since, now)
                return

    def _value(self, guard: AbortGuard, now: float) -> float | None:
        if guard.source is GuardSource.LOADGEN:
            window = self.live(guard.window_s, now)
            if window is None:
                return None
            return window.error_ratio if guard.signal is GuardSignal.ERROR_RATIO else window.p99_ms
        return self._prometheus(guard)

    def _prometheus(self, guard: AbortGuard) -> float | None:
        if self.prom is None:
            return None
        try:
            found = self.prom.instant(guard_query(guard))
        except PrometheusError as exc:  # Prometheus down is no reason to abort; loadgen guards still watch
            self._note_error(guard, str(exc))
            return None
        self._errors.pop(guard.name, None)
        values = [v for s in found for _, v in s.points]
        return (max(values) if guard.above is not None else min(values)) if values else None

    def _trip(self, guard: AbortGuard, value: float, since: float, now: float) -> None:
        bound = f"above {guard.above:g}" if guard.above is not None else f"below {guard.below:g}"
        reason = f"{guard.signal.value} from {guard.source.value} was {bound} for {now - since:.1f} s (now {value:.4g})"
        self.tripped = Abort(guard=guard.name, source=guard.source.value, signal=guard.signal.value, value=value, reason=reason, at=now)
        emit(self.timeline, GuardTripped(**self.tripped.model_dump()))
        self.on_trip(self.tripped)

    def _note_error(self, guard: AbortGuard, error: str) -> None:
        if self._errors.get(guard.name) != error:  # once per new error, not every second
            self._errors[guard.name] = error
            emit(self.timeline, GuardError(at=self.clock(), guard=guard.name, error=error))
