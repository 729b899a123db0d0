"""The alerting path watched while a drill runs: each read of Prometheus' alerts, Alertmanager's
and the receiver's new notifications turns into timeline events (``alert_state``,
``alert_notified``, ``alert_source`` on every change of reachability).

Prometheus does not say when an alert began firing (``activeAt`` is when it began pending), so
the firing time is when a read first saw it: as precise as ``poll_interval_s`` (0.5 s), which
is below Prometheus' own evaluation interval. Notifications carry the time they arrived.

>>> watch = AlertWatcher(timeline, prom=prom, alertmanager_url=None,                    # doctest: +SKIP
...                      notifications=Path(".drillkit/local/alerting/notifications.jsonl"), since=time.time())
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from drillkit.alerting.alertmanager import AlertmanagerError, active_alerts
from drillkit.alerting.receiver import read_notifications
from drillkit.events import AlertNotified, AlertSource, AlertState, emit
from drillkit.observe.client import PromClient, PrometheusError
from drillkit.watch import Loop

if TYPE_CHECKING:
    from drillkit.alerting.section import AlertingSection
    from drillkit.spec.drill import AlertExpectation

Key = tuple[str, tuple[tuple[str, str], ...]]
Source = Literal["prometheus", "alertmanager", "receiver"]


def key_of(labels: dict[str, str]) -> Key:
    return labels.get("alertname", ""), tuple(sorted(labels.items()))


def _labels(raw: Any) -> dict[str, str]:
    """An API's label set as strings (an untrusted answer: anything else is dropped)."""
    if not isinstance(raw, dict):
        return {}
    return {str(k)[:128]: str(v)[:1024] for k, v in list(raw.items())[:64]}


class AlertWatcher(Loop):
    """Reads the alerting path every ``interval_s`` and records what changed (see the module docstring)."""

    def __init__(self, timeline: Path, *, prom: PromClient | None, alertmanager_url: str | None,
                 notifications: Path | None, since: float, interval_s: float = 0.5,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        super().__init__(interval_s, timeline)
        self.prom, self.alertmanager_url, self.notifications, self.since = prom, alertmanager_url, notifications, since
        self.clock = clock
        self.states: dict[Source, dict[Key, str]] = {}
        self.reachable: dict[Source, bool] = {}
        # The embedded receiver's file keeps every notification since `up`: read on from its end now.
        self._offset = notifications.stat().st_size if notifications is not None and notifications.exists() else 0

    def tick(self) -> None:
        if self.prom is not None:
            self._read("prometheus", self._prometheus)
        if self.alertmanager_url is not None:
            self._read("alertmanager", self._alertmanager)
        if self.notifications is not None:
            self._read_notifications()

    def _read(self, source: Source, read: Callable[[], dict[Key, str]]) -> None:
        try:
            now = read()
        except (PrometheusError, AlertmanagerError, ValueError) as exc:
            self._reach(source, False, str(exc)[:300])
            return
        first = source not in self.states
        self._reach(source, True, None)
        before = self.states.get(source, {})
        for key, state in now.items():
            if before.get(key) != state:
                emit(self.timeline, AlertState(at=self.clock(), source=source, alert=key[0], labels=dict(key[1]), state=state,  # type: ignore[arg-type]
                                               first_poll=first))  # fmt: skip
        for key in before.keys() - now.keys():
            emit(self.timeline, AlertState(at=self.clock(), source=source, alert=key[0], labels=dict(key[1]), state="inactive"))  # type: ignore[arg-type]
        self.states[source] = now

    def _prometheus(self) -> dict[Key, str]:
        assert self.prom is not None
        out = {}
        for alert in self.prom.alerts():
            state = alert.get("state")
            if state in ("pending", "firing"):
                out[key_of(_labels(alert.get("labels")))] = str(state)
        return out

    def _alertmanager(self) -> dict[Key, str]:
        assert self.alertmanager_url is not None
        out = {}
        for alert in active_alerts(self.alertmanager_url):
            status = alert.get("status")
            if isinstance(status, dict) and status.get("state") == "active":
                out[key_of(_labels(alert.get("labels")))] = "active"
        return out

    def _read_notifications(self) -> None:
        assert self.notifications is not None
        found, bad, self._offset = read_notifications(self.notifications, since=self.since, offset=self._offset)
        for note in found:
            for alert in note.alerts:
                emit(self.timeline, AlertNotified(at=note.received_at, status=alert.status, alert=alert.name,
                                                  labels=dict(alert.labels), receiver=note.receiver))  # fmt: skip
        for line in bad:
            emit(self.timeline, AlertSource(at=self.clock(), source="receiver", reachable=True, error=line))

    def _reach(self, source: Source, ok: bool, error: str | None) -> None:
        if self.reachable.get(source) != ok:
            emit(self.timeline, AlertSource(at=self.clock(), source=source, reachable=ok, error=error))
        self.reachable[source] = ok


def unsettled_until(expected: Sequence[AlertExpectation], section: AlertingSection | None, *, fault_start: float | None) -> float | None:
    """The latest deadline of a demand not yet met (None: every demand is met, or none can be):
    a drill waits for its alerts until then, as long as an alert takes to fire, notify or
    resolve within its budget, and no longer."""
    if section is None or fault_start is None:
        return None
    deadlines = []
    for a in expected:
        mine = next((e for e in section.episodes if e.matches(a.alert, a.labels) and (e.firing_at or e.notified_at or 0) >= fault_start), None)
        if a.must_fire_within_s is not None and (mine is None or mine.firing_at is None):
            deadlines.append(fault_start + a.must_fire_within_s)
        if a.must_notify_within_s is not None and section.receiver and (mine is None or mine.notified_at is None):
            deadlines.append(fault_start + a.must_notify_within_s)
        rollback = section.rollback_started
        if a.must_resolve_within_s is not None and rollback is not None and (mine is None or mine.time_to_resolve_s is None):
            deadlines.append(rollback + a.must_resolve_within_s)
    return max(deadlines, default=None)
