"""The alerting table: every alert the drill saw, when it fired, paged and resolved, and which
were false alarms; the same moments are marked on the timeline page (``alert_markers``)."""

from __future__ import annotations

from drillkit.journal import Journal
from drillkit.report.cover import utc
from drillkit.report.layout import Column, Flow
from drillkit.report.run import RunFolder, seconds


def alerting_table(flow: Flow, run: RunFolder) -> None:
    """Drills whose environment has ``alerting:`` only."""
    a = run.journal.alerting
    if a is None:
        return
    reach = {"Prometheus": a.prometheus_reachable, "Alertmanager": a.alertmanager_reachable, "receiver": a.receiver or None}
    shown = ", ".join(f"{k} {'read' if v else 'NOT reachable'}" for k, v in reach.items() if v is not None)
    flow.heading(f"Alerting: {shown}; {a.notifications} notification(s); {len(a.false_alarms)} false alarm(s)")
    rows = [[e.shown, utc(e.firing_at) if e.firing_at else "-", seconds(e.time_to_fire_s), seconds(e.time_to_notify_s),
             seconds(e.time_to_resolve_s), "false alarm" if e.false_alarm else "already firing" if e.already_firing else ""]
            for e in a.episodes]  # fmt: skip
    flow.table([Column("alert", 40), Column("firing since", 22), Column("to fire", 9), Column("to notify", 9),
                Column("to resolve", 10), Column("", 14)], rows or [["(no alert fired)", "-", "-", "-", "-", ""]])  # fmt: skip
    for line in a.unreadable[:5]:
        flow.paragraph(line, color="tab:red")


def alert_moments(journal: Journal) -> list[tuple[float, str]]:
    """(unix time, label) of each alert's page and all-clear, for the timeline's markers."""
    a = journal.alerting
    out = []
    for e in a.episodes if a is not None else []:
        if e.notified_at is not None:
            out.append((e.notified_at, f"paged: {e.alert}"))
        if e.resolved_notified_at is not None:
            out.append((e.resolved_notified_at, f"resolved: {e.alert}"))
    return out
