"""The cover of a drill report: the verdict, what was drilled, where, on which release, and
the numbers it was judged by."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drillkit.report.layout import SANS, VERDICT_COLORS, Column, Flow
from drillkit.report.run import RunFolder, measured, seconds


def utc(at: float | None) -> str:
    """A UNIX time as ``2026-01-01 03:00:00 UTC`` (``-`` when unknown)."""
    return "-" if at is None else f"{datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC"


def cover(flow: Flow, run: RunFolder, generated_at: float) -> None:
    """Write the cover into ``flow`` (its first page gets the verdict banner)."""
    flow.heading(f"drillkit drill report: {run.name}")
    _banner(flow, run)
    flow.table([Column("", 22), Column("", 77)], _identity(run, generated_at))
    flow.heading("Checks")
    checks = [[c["name"], c["verdict"], c["detail"]] for c in run.journal.get("checks") or []]
    flow.table([Column("check", 18), Column("verdict", 8), Column("detail", 70)], checks, colors={1: VERDICT_COLORS})
    flow.heading("Measurements")
    flow.table([Column("measurement", 28), Column("value", 60)], _measurements(run.measurements))
    abort = run.section("abort")
    if abort and abort.get("tripped"):
        flow.paragraph(f"ABORTED by guard {abort.get('guard')} at {utc(abort.get('at'))}: {abort.get('reason')} "
                       f"(source {abort.get('source')})", color=VERDICT_COLORS["FAIL"])  # fmt: skip


def _banner(flow: Flow, run: RunFolder) -> None:
    verdict = run.verdict.value
    code = run.journal.get("exit_code")
    page = flow.pages[-1]
    page.text(0.93, 0.955, verdict, ha="right", va="top", fontsize=26, weight="bold", family=SANS,
              color="white", bbox={"facecolor": VERDICT_COLORS[verdict], "edgecolor": "none", "pad": 6})  # fmt: skip
    flow.paragraph(f"verdict: {verdict} (exit code {code})" + ("   INTERRUPTED" if run.journal.get("interrupted") else ""),
                   color=VERDICT_COLORS[verdict])  # fmt: skip


def _identity(run: RunFolder, generated_at: float) -> list[list[str]]:
    drill, env = run.journal["drill"], run.journal.get("environment") or {}
    release = run.section("release") or {}
    started = next((e["at"] for e in run.journal.get("timeline") or [] if e.get("event") == "drill_started"), None)
    regions = ", ".join(f"{r['name']} ({r['role']}, {r['nodes']} nodes)" for r in env.get("regions", []))
    return [
        ["drill", run.name],
        ["experiment", str(drill.get("experiment", "-"))],
        ["environment", f"{env.get('name', '-')} on {env.get('platform', '-')}: {regions or '-'}"],
        ["model version", str((env.get("model") or {}).get("version", "-"))],
        ["release under test", str(release.get("release") or "-")],
        ["commit under test", str(release.get("commit") or "-")],
        ["drill started", utc(started)],
        ["fault injected", utc(run.journal.get("fault_start"))],
        ["rolled back", utc(run.journal.get("rollback_end"))],
        ["report generated", utc(generated_at)],
        ["run folder", run.path.name],
    ]


def _measurements(m: dict[str, Any]) -> list[list[str]]:
    if not m:
        return [["-", "no measurements (no fault was injected or no request was logged)"]]
    budget = m.get("error_budget_consumed")
    return [
        ["RTO (recovery time)", seconds(measured(m, "rto_s"))],
        ["TTD (time to detect)", seconds(measured(m, "ttd_s"))],
        ["outage (request level)", seconds(measured(m, "outage_s"), 3)],
        ["failback", seconds(measured(m, "failback_s"))],
        ["failed requests", (f"{m.get('failed_requests', '-')} of {m.get('requests', '-')} "
                             f"({m.get('failed_during_incident', '-')} during the incident)")],
        ["worst p99 in the incident", seconds(measured(m, "worst_p99_s"), 3)],
        ["error budget consumed", "-" if budget is None else f"{budget:.1%}"],
    ]  # fmt: skip
