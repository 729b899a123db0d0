"""The journal's ``alerting`` section: every alert episode the drill saw, timed from the fault.

An episode is one alert instance (its name and labels) from pending or firing in Prometheus to
gone, with the notifications drillkit's receiver got for it. Measured per episode:

- time to fire: the fault's start to firing in Prometheus (as first read);
- time to notify: the fault's start to the firing notification's arrival;
- time to resolve: the rollback's start (the fix began) to the resolved notification's arrival
  (without a receiver: to the alert gone from Prometheus); negative when it resolved by itself
  before the rollback (a platform that heals, or a rule that lets go too early).

A **false alarm** is an alert that began firing while the drill watched and before any fault
(warm-up), or in a drill with no fault; one already firing when the drill began is marked
``already_firing`` instead (a standing alert, such as a Watchdog, is not this drill's alarm).
The checks on it are decided in :func:`drillkit.verdict.alert_checks`.

>>> alerting_section([], fault_start=None) is None   # no alerting path watched
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pydantic import Field

from drillkit.events import AlertNotified, AlertSource, AlertState, Event, RollbackStarted
from drillkit.units import Record

_Key = tuple[str, tuple[tuple[str, str], ...]]


class AlertEpisode(Record):
    alert: str
    labels: dict[str, str] = Field(default_factory=dict)
    pending_at: float | None = None
    firing_at: float | None = Field(None, description="first read firing in Prometheus")
    gone_at: float | None = Field(None, description="first read no longer held by Prometheus")
    notified_at: float | None = Field(None, description="its firing notification arrived")
    resolved_notified_at: float | None = Field(None, description="its resolved notification arrived")
    already_firing: bool = Field(False, description="firing at the first read: before the drill watched")
    time_to_fire_s: float | None = Field(None, description="from the fault's start to firing (negative: before it)")
    time_to_notify_s: float | None = Field(None, description="from the fault's start to the notification")
    time_to_resolve_s: float | None = Field(None, description="from the rollback's start to the resolved notification (or gone); "
                                                              "negative: before the rollback")
    false_alarm: bool = Field(False, description="began firing before any fault, or in a drill with none")

    def matches(self, alert: str, labels: dict[str, str]) -> bool:
        return self.alert == alert and all(self.labels.get(k) == v for k, v in labels.items())

    @property
    def shown(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()) if k != "alertname")
        return f"{self.alert}{{{inner}}}" if inner else self.alert


class AlertingSection(Record):
    prometheus_reachable: bool | None = Field(None, description="None: not watched; False: never read")
    alertmanager_reachable: bool | None = None
    receiver: bool = Field(False, description="drillkit's receiver was watched for notifications")
    watched_from: float | None = None
    watched_until: float | None = None
    rollback_started: float | None = Field(None, description="the rollback's start: what time to resolve is read from")
    episodes: list[AlertEpisode] = Field(default_factory=list)
    notifications: int = Field(0, description="alerts in the notifications received")
    unreadable: list[str] = Field(default_factory=list, description="why a source could not be read, and damaged notification lines")

    @property
    def false_alarms(self) -> list[AlertEpisode]:
        return [e for e in self.episodes if e.false_alarm]

    @property
    def reachable(self) -> bool:
        return bool(self.prometheus_reachable) or self.notifications > 0


def alerting_section(events: list[Event], *, fault_start: float | None, receiver: bool = False) -> AlertingSection | None:
    """The section from the timeline (None when the drill watched no alerting path)."""
    sources = [e for e in events if isinstance(e, AlertSource)]
    if not sources:
        return None
    reached = {s: any(e.reachable for e in sources if e.source == s) for s in {e.source for e in sources}}
    episodes = _episodes([e for e in events if isinstance(e, AlertState) and e.source == "prometheus"])
    notes = [e for e in events if isinstance(e, AlertNotified)]
    for note in notes:
        _attach(episodes, note)
    seen = [e.at for e in events if isinstance(e, AlertSource | AlertState | AlertNotified)]
    rollback = next((e.at for e in events if isinstance(e, RollbackStarted)), None)
    return AlertingSection(
        prometheus_reachable=reached.get("prometheus"), alertmanager_reachable=reached.get("alertmanager"), receiver=receiver,
        watched_from=min(seen), watched_until=max(seen), notifications=len(notes), rollback_started=rollback,
        episodes=[_timed(ep, fault_start, rollback, receiver=receiver) for ep in episodes],
        unreadable=[f"{e.source}: {e.error}" for e in sources if e.error],
    )  # fmt: skip


@dataclass
class _Episode:
    """An episode while it is being read from the timeline."""

    alert: str
    labels: dict[str, str]
    pending_at: float | None = None
    firing_at: float | None = None
    gone_at: float | None = None
    notified_at: float | None = None
    resolved_notified_at: float | None = None
    already_firing: bool = False


def _episodes(states: list[AlertState]) -> list[_Episode]:
    open_: dict[_Key, _Episode] = {}
    out: list[_Episode] = []
    for e in states:
        key = (e.alert, tuple(sorted(e.labels.items())))
        ep = open_.get(key)
        if e.state == "inactive":
            if ep is not None:
                ep.gone_at = e.at
                del open_[key]
            continue
        if ep is None:
            ep = open_[key] = _Episode(alert=e.alert, labels=dict(e.labels))
            out.append(ep)
        if e.state == "pending" and ep.pending_at is None:
            ep.pending_at = e.at
        if e.state == "firing" and ep.firing_at is None:
            ep.firing_at, ep.already_firing = e.at, e.first_poll
    return out


def _attach(episodes: list[_Episode], note: AlertNotified) -> None:
    """A notification belongs to an episode of its alert (the same labels, or more: an external
    Prometheus adds its own): a firing one to the first not yet notified that was not gone before
    it arrived (a read may trail the notification by a poll), a resolved one to the latest notified."""
    mine = [ep for ep in episodes if ep.alert == note.alert and all(note.labels.get(k) == v for k, v in ep.labels.items())]
    if note.status == "firing":
        target = next((ep for ep in mine if ep.notified_at is None and (ep.gone_at is None or ep.gone_at >= note.at)), None)
        if target is None:  # Prometheus unread, or the alert came and went between two reads: the notification tells
            target = _Episode(alert=note.alert, labels=dict(note.labels))
            episodes.append(target)
        target.notified_at = note.at
        return
    target = next((ep for ep in reversed(mine) if ep.notified_at is not None and ep.notified_at <= note.at
                   and ep.resolved_notified_at is None), None)  # fmt: skip
    if target is not None:
        target.resolved_notified_at = note.at


def _timed(ep: _Episode, fault_start: float | None, rollback: float | None, *, receiver: bool) -> AlertEpisode:
    began = ep.firing_at if ep.firing_at is not None else ep.notified_at
    # With a receiver the page's all-clear is what resolves it; without one, Prometheus letting go.
    resolved = ep.resolved_notified_at if receiver else ep.gone_at
    return AlertEpisode(
        **asdict(ep),
        time_to_fire_s=None if fault_start is None or ep.firing_at is None else ep.firing_at - fault_start,
        time_to_notify_s=None if fault_start is None or ep.notified_at is None else ep.notified_at - fault_start,
        time_to_resolve_s=resolved - rollback if rollback is not None and resolved is not None and fault_start is not None
        and resolved > fault_start else None,
        false_alarm=began is not None and not ep.already_firing and (fault_start is None or began < fault_start),
    )  # fmt: skip
