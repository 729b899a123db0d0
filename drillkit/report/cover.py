"""The cover of a drill report: the verdict, what was drilled, where, on which release, and
the numbers it was judged by."""

from __future__ import annotations

from datetime import UTC, datetime

from drillkit.events import DrillStarted
from drillkit.journal import Release
from drillkit.measure import Measurements
from drillkit.report.layout import SANS, VERDICT_COLORS, Column, Flow
from drillkit.report.run import RunFolder, seconds
from drillkit.retries import GatewayRetries
from drillkit.spec.drill import JudgeLatency


def utc(at: float | None) -> str:
    """A UNIX time as ``2026-01-01 03:00:00 UTC`` (``-`` when unknown)."""
    return "-" if at is None else f"{datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC"


def cover(flow: Flow, run: RunFolder, generated_at: float) -> None:
    """Write the cover into ``flow`` (its first page gets the verdict banner)."""
    flow.heading(f"drillkit drill report: {run.name}")
    _banner(flow, run)
    flow.table([Column("", 22), Column("", 77)], _identity(run, generated_at))
    flow.heading("Checks")
    checks = [[c.name, c.verdict.value, c.detail] for c in run.journal.checks]
    flow.table([Column("check", 18), Column("verdict", 8), Column("detail", 70)], checks, colors={1: VERDICT_COLORS})
    flow.heading("Measurements")
    flow.table([Column("measurement", 28), Column("value", 60)],
               _measurements(run.journal.measurements) + _gateway(run.journal.gateway))  # fmt: skip
    abort = run.journal.abort
    if abort is not None and abort.tripped:
        flow.paragraph(f"ABORTED by guard {abort.guard} at {utc(abort.at)}: {abort.reason} (source {abort.source})",
                       color=VERDICT_COLORS["FAIL"])


def _banner(flow: Flow, run: RunFolder) -> None:
    verdict = run.verdict.value
    code = run.journal.exit_code
    page = flow.pages[-1]
    page.text(0.93, 0.955, verdict, ha="right", va="top", fontsize=26, weight="bold", family=SANS,
              color="white", bbox={"facecolor": VERDICT_COLORS[verdict], "edgecolor": "none", "pad": 6})  # fmt: skip
    flow.paragraph(f"verdict: {verdict} (exit code {code})" + ("   INTERRUPTED" if run.journal.interrupted else ""),
                   color=VERDICT_COLORS[verdict])  # fmt: skip


def _identity(run: RunFolder, generated_at: float) -> list[list[str]]:
    journal = run.journal
    drill, env = journal.drill.model_dump(mode="json"), journal.environment.model_dump(mode="json")
    release = journal.release or Release()
    started = next((e.at for e in journal.timeline if isinstance(e, DrillStarted)), None)
    regions = ", ".join(f"{r.name} ({r.role}, {r.nodes} nodes)" for r in journal.environment.regions)
    return [
        ["drill", run.name],
        ["experiment", str(drill.get("experiment", "-"))],
        ["environment", f"{env.get('name', '-')} on {env.get('platform', '-')}: {regions or '-'}"],
        ["model version", str((env.get("model") or {}).get("version", "-"))],
        ["release under test", release.release or "-"],
        ["commit under test", release.commit or "-"],
        ["drill started", utc(started)],
        ["fault injected", utc(journal.fault_start)],
        ["rolled back", utc(journal.rollback_end)],
        ["report generated", utc(generated_at)],
        ["run folder", run.path.name],
    ]


def _measurements(m: Measurements | None) -> list[list[str]]:
    if m is None:
        return [["-", "no measurements (no fault was injected or no request was logged)"]]
    return [
        ["RTO (recovery time)", f"{seconds(m.rto_s)} (read every {m.resolution_s:g} s over {m.window_s:g} s windows)"],
        ["TTD (time to detect)", seconds(m.ttd_s)],
        ["outage (request level)", seconds(m.outage_s, 3)],
        ["failback", seconds(m.failback_s)],
        ["failed requests", f"{m.failed_requests} of {m.requests} ({m.failed_during_incident} during the incident)"],
        ["worst p99 in the incident", seconds(m.worst_p99_s, 3)],
        ["latency judged", _judged(m)],
        ["error budget consumed", f"{m.error_budget_consumed:.1%}"],
    ]


def _gateway(g: GatewayRetries | None) -> list[list[str]]:
    """The gateway's retries: what it hid from users, against its budget."""
    if g is None or g.fault is None:
        return []
    f = g.fault
    share = "-" if f.ratio is None else f"{f.ratio:.1%}"
    budget = f", budget {g.budget_percent:g}%" if g.budget_percent > 0 else ", no budget"
    warm = f"; warm-up {g.warmup.retries} of {g.warmup.requests}" if g.warmup is not None else ""
    return [["gateway retries (fault)", f"{f.retries} retries, {f.redispatches} redispatches of {f.requests} requests "
                                        f"({share}{budget}){warm}"]]  # fmt: skip


def _judged(m: Measurements) -> str:
    """Over which span the p99 objective was judged (``slo.judge_latency``), and its worst p99 there."""
    if m.judge_latency is None:
        return "- (a journal from before judge_latency)"
    if m.judge_latency is JudgeLatency.THROUGH_FAULT:
        return f"through the fault (worst p99 {seconds(m.worst_p99_judged_s, 3)})"
    if m.latency_judged_from is None:
        return "after recovery (never recovered: not judged)"
    return f"after recovery (+{m.rto_s:.2f} s; worst p99 {seconds(m.worst_p99_judged_s, 3)})"
