"""The report's tables: SLOs with their PromQL, the Prometheus cross-check, restore and RPO,
the chaos activity log, and the environment with its versions. Each writes into a Flow and
skips silently only what the run did not produce (an older journal has fewer sections)."""

from __future__ import annotations

import json
from typing import Any

from drillkit.report.cover import utc
from drillkit.report.layout import VERDICT_COLORS, Column, Flow
from drillkit.report.run import RunFolder, seconds


def slo_table(flow: Flow, run: RunFolder) -> None:
    """Every SLO verdict with the exact PromQL behind it."""
    slos = run.section("slos")
    if slos is None:
        return
    flow.heading("SLOs (Prometheus)")
    if not slos:
        flow.paragraph("the drill defines no Prometheus SLO")
        return
    rows = [[s.get("name", "-"), s.get("verdict", "-"), _value(s), f"{s.get('comparison', '')} {s.get('threshold', '')}",
             f"{s.get('query', '-')}  [{s.get('evaluate', 'worst')} over the drill, window {s.get('window_s', '-')} s]"] for s in slos]  # fmt: skip
    flow.table([Column("SLO", 16), Column("verdict", 7), Column("measured", 9), Column("objective", 10),
                Column("PromQL", 50)], rows, colors={1: VERDICT_COLORS})  # fmt: skip


def cross_check_table(flow: Flow, run: RunFolder) -> None:
    """TTD and RTO from the request log against the same from Prometheus."""
    cc = run.section("cross_check")
    if not cc:
        return
    flow.heading("Cross-check: request log against Prometheus")
    rows = [[what, seconds(cc.get(f"{key}_log_s")), seconds(cc.get(f"{key}_prom_s")), seconds(cc.get(f"{key}_diff_s"))]
            for what, key in (("TTD", "ttd"), ("RTO", "rto"))]  # fmt: skip
    flow.table([Column("", 6), Column("request log", 14), Column("Prometheus", 14), Column("difference", 14)], rows)
    note = f"scrape interval {cc.get('scrape_interval_s', '-')} s. {cc.get('note') or ''}"
    flow.paragraph(("FLAGGED: " if cc.get("flagged") else "") + note, color=VERDICT_COLORS["FAIL"] if cc.get("flagged") else "black")


def restore_table(flow: Flow, run: RunFolder) -> None:
    """Backup restore time, RPO and what was lost (restore drills only)."""
    r = run.section("restore")
    if not r:
        return
    flow.heading("Restore and RPO")
    lost = ", ".join(r.get("versions_lost") or []) or "none"
    rows = [["backup restored", str(r.get("backup_id", "-"))], ["backup taken", utc(r.get("backup_created_at"))],
            ["failure", utc(r.get("failure_at"))], ["restore started", utc(r.get("restore_started_at"))],
            ["restore ended", utc(r.get("restore_ended_at"))], ["restore time", seconds(r.get("restore_time_s"))],
            ["RPO (data loss window)", seconds(r.get("rpo_s"))],
            ["model versions lost", f"{r.get('versions_lost_count', 0)} ({lost})"],
            ["golden answers identical", "yes" if r.get("golden_identical") else "NO"]]  # fmt: skip
    flow.table([Column("", 26), Column("", 70)], rows)
    refused = r.get("refused") or []
    if refused:
        flow.table([Column("refused backup", 24), Column("object", 28), Column("reason", 44)],
                   [[x.get("backup_id", "-"), x.get("object", "-"), x.get("reason", "-")] for x in refused])  # fmt: skip


def activity_table(flow: Flow, run: RunFolder, origin: float) -> None:
    """Every chaos activity with its start, duration and outcome, then the rollbacks."""
    flow.heading("Chaos activity log")
    rows = activity_rows(run.journal.get("timeline") or [], origin)
    flow.table([Column("t (s)", 6), Column("activity", 22), Column("function", 16), Column("took", 8),
                Column("outcome", 10), Column("details", 29)], rows or [["-", "no activity ran", "", "", "", ""]])  # fmt: skip
    undone = run.journal.get("undone") or []
    if undone:
        flow.table([Column("rolled back", 16), Column("undo", 18), Column("arguments", 34), Column("result", 26)],
                   [[u.get("fault", "-"), u.get("undo", "-"), _short(u.get("args")), u.get("error") or u.get("note") or "ok"] for u in undone],
                   colors={3: {"ok": VERDICT_COLORS["PASS"]}})  # fmt: skip


def activity_rows(events: list[dict[str, Any]], origin: float) -> list[list[str]]:
    """Pair each activity_started with its activity_ended (by name, in order)."""
    open_: dict[str, dict[str, Any]] = {}
    rows = []
    for e in events:
        if e.get("event") == "activity_started":
            open_[str(e.get("name"))] = e
        elif e.get("event") == "activity_ended":
            began = open_.pop(str(e.get("name")), e)
            rows.append([f"{began['at'] - origin:.1f}", str(e.get("name")), str(e.get("func")),
                         f"{e['at'] - began['at']:.2f} s", str(e.get("status")), _short(e.get("output"))])  # fmt: skip
    return rows


def environment_table(flow: Flow, run: RunFolder) -> None:
    """The environment, the drill's settings and the versions of every component."""
    env, drill = run.journal.get("environment") or {}, run.journal["drill"]
    flow.heading("Environment and versions")
    gateway, model = env.get("gateway") or {}, env.get("model") or {}
    rows = [["environment", f"{env.get('name', '-')} ({env.get('platform', '-')})"],
            ["gateway", _short({k: gateway.get(k) for k in ("mode", "check_interval_ms", "fall", "rise", "retries")})],
            ["model", _short({k: model.get(k) for k in ("version", "items", "dim", "device", "max_batch_size")})],
            ["load", _short(drill.get("load"))], ["SLO", _short(drill.get("slo"))],
            ["recovery", _short(drill.get("recovery"))], ["fail on", _short(drill.get("fail_on"))],
            ["capacity pre-check", _short(run.journal.get("capacity"))]]  # fmt: skip
    rows += [[f"version: {k}", str(v)] for k, v in sorted((run.journal.get("versions") or {}).items())]
    flow.table([Column("", 26), Column("", 70)], rows)


def _value(slo: dict[str, Any]) -> str:
    value = slo.get("value")
    return "no data" if value is None else f"{value:.4g}" if isinstance(value, int | float) else str(value)


def _short(value: Any, limit: int = 240) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
