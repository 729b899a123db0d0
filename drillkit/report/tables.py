"""The report's tables: SLOs with their PromQL, the Prometheus cross-check, restore and RPO,
the chaos activity log, and the environment with its versions. Each writes into a Flow and
skips silently only what the run did not produce (an older journal has fewer sections)."""

from __future__ import annotations

import json
from typing import Any

from drillkit.events import ActivityEnded, ActivityStarted, Event
from drillkit.report.cover import utc
from drillkit.report.layout import VERDICT_COLORS, Column, Flow
from drillkit.report.run import RunFolder, seconds


def slo_table(flow: Flow, run: RunFolder) -> None:
    """Every SLO verdict with the exact PromQL behind it."""
    slos = run.journal.slos
    if not slos:
        return  # the drill defines none (the cover's checks say so too)
    flow.heading("SLOs (Prometheus)")
    rows = [[s.name, s.verdict.value, _value(s.value), f"{s.comparison} {s.threshold:g}",
             f"{s.query}  [{s.evaluate} over the drill, window {s.window_s:g} s]"] for s in slos]
    flow.table([Column("SLO", 16), Column("verdict", 7), Column("measured", 9), Column("objective", 10),
                Column("PromQL", 50)], rows, colors={1: VERDICT_COLORS})  # fmt: skip


def cross_check_table(flow: Flow, run: RunFolder) -> None:
    """TTD and RTO from the request log against the same from Prometheus."""
    cc = run.journal.cross_check
    if cc is None:
        return
    flow.heading("Cross-check: request log against Prometheus")
    rows = [["TTD", seconds(cc.ttd_log_s), seconds(cc.ttd_prom_s), seconds(cc.ttd_diff_s)]]
    if cc.rto_log_ended_s is None:  # an old journal: compared with the RTO by send time
        rows.append(["RTO", seconds(cc.rto_log_s), seconds(cc.rto_prom_s), seconds(cc.rto_diff_s)])
    else:  # Prometheus counts a request when it ends: compared with the log read the same way
        rows += [["RTO (requests by send time)", seconds(cc.rto_log_s), "-", "-"],
                 ["RTO (requests by end time)", seconds(cc.rto_log_ended_s), seconds(cc.rto_prom_s), seconds(cc.rto_diff_s)]]
    flow.table([Column("", 22), Column("request log", 12), Column("Prometheus", 12), Column("difference", 12)], rows)
    note = f"scrape interval {cc.scrape_interval_s:g} s; Prometheus counts a request when it ends. {cc.note}"
    flow.paragraph(("FLAGGED: " if cc.flagged else "") + note, color=VERDICT_COLORS["FAIL"] if cc.flagged else "black")


def restore_table(flow: Flow, run: RunFolder) -> None:
    """Backup restore time, RPO and what was lost (restore drills only)."""
    r = run.journal.restore
    if r is None:
        return
    flow.heading("Restore and RPO")
    lost = ", ".join(r.versions_lost) or "none"
    rows = [["backup restored", r.backup_id or "-"], ["backup taken", utc(r.backup_created_at)],
            ["failure", utc(r.failure_at)], ["restore started", utc(r.restore_started_at)],
            ["restore ended", utc(r.restore_ended_at)], ["restore time", seconds(r.restore_time_s)],
            ["RPO (data loss window)", seconds(r.rpo_s)], ["model versions lost", f"{len(r.versions_lost)} ({lost})"],
            ["golden answers identical", "yes" if r.golden_identical else "NO"]]
    if not r.restored:
        rows.insert(0, ["restored", f"NO: {r.error}"])
    flow.table([Column("", 26), Column("", 70)], rows)
    refused = r.refused
    if refused:
        flow.table([Column("refused backup", 24), Column("object", 28), Column("reason", 44)],
                   [[x.get("backup_id", "-"), x.get("object", "-"), x.get("reason", "-")] for x in refused])  # fmt: skip


def activity_table(flow: Flow, run: RunFolder, origin: float) -> None:
    """Every chaos activity with its start, duration and outcome, then the rollbacks."""
    flow.heading("Chaos activity log")
    rows = activity_rows(run.journal.timeline, origin)
    flow.table([Column("t (s)", 6), Column("activity", 22), Column("function", 16), Column("took", 8),
                Column("outcome", 10), Column("details", 29)], rows or [["-", "no activity ran", "", "", "", ""]])  # fmt: skip
    undone = run.journal.undone
    if undone:
        flow.table([Column("rolled back", 16), Column("undo", 18), Column("arguments", 34), Column("result", 26)],
                   [[u.fault, u.undo, _short(u.args), u.error or u.note or "ok"] for u in undone],
                   colors={3: {"ok": VERDICT_COLORS["PASS"]}})  # fmt: skip


def activity_rows(events: list[Event], origin: float) -> list[list[str]]:
    """Pair each activity_started with its activity_ended (by name, in order)."""
    open_: dict[str, float] = {}
    rows = []
    for e in events:
        if isinstance(e, ActivityStarted):
            open_[str(e.name)] = e.at
        elif isinstance(e, ActivityEnded):
            began = open_.pop(str(e.name), e.at)
            rows.append([f"{began - origin:.1f}", str(e.name), str(e.func), f"{e.at - began:.2f} s", str(e.status),
                         _output(e.output)])  # fmt: skip
    return rows


def _output(output: object) -> str:
    """A fault's output as ``layer: targets; detail``, anything else as short JSON."""
    if isinstance(output, dict) and "targets" in output and "layer" in output:
        detail = f"; {_short(output['detail'], 120)}" if output.get("detail") else ""
        return f"{output['layer']}: {', '.join(map(str, output['targets']))}{detail}"
    return _short(output)


def environment_table(flow: Flow, run: RunFolder) -> None:
    """The environment, the drill's settings and the versions of every component."""
    env, drill = run.journal.environment.model_dump(mode="json"), run.journal.drill.model_dump(mode="json")
    flow.heading("Environment and versions")
    gateway, model = env.get("gateway") or {}, env.get("model") or {}
    rows = [["environment", f"{env.get('name', '-')} ({env.get('platform', '-')})"],
            ["gateway", _short({k: gateway.get(k) for k in ("mode", "check_interval_ms", "fall", "rise", "retries")})],
            ["model", _short({k: model.get(k) for k in ("version", "items", "dim", "device", "max_batch_size")})],
            ["load", _short(drill.get("load"))], ["SLO", _short(drill.get("slo"))],
            ["recovery", _short(drill.get("recovery"))], ["fail on", _short(drill.get("fail_on"))],
            ["capacity pre-check", _short(run.journal.capacity)]]  # fmt: skip
    rows += [[f"version: {k}", str(v)] for k, v in sorted(run.journal.versions.items())]
    flow.table([Column("", 26), Column("", 70)], rows)


def _value(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def _short(value: Any, limit: int = 240) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
