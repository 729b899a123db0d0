"""The capacity page and the scaling table.

The page plots, for each ramped region, the p99 and p50 latency and the achieved rate against
the offered rate, the SLO's p99 as a line, the knee marked, and each step the load generator
fell behind on hollow (it never counts as the region's limit). The table lists the
autoscaler's scale-outs: when, why, and how long until the new nodes served.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from drillkit.knee import RegionCurve
from drillkit.report.cover import utc
from drillkit.report.layout import A4_LANDSCAPE, Column, Flow, new_page
from drillkit.report.run import RunFolder, seconds


def capacity_page(run: RunFolder) -> Figure | None:
    """Latency and throughput against offered load, one column per region (None: no ramp)."""
    curves = run.journal.capacity_curve
    if curves is None or not curves.regions:
        return None
    fig = new_page(A4_LANDSCAPE)
    axes = fig.subplots(2, len(curves.regions), squeeze=False, sharex="col")
    for column, curve in enumerate(curves.regions):
        _latency(axes[0][column], curve, run.journal.drill.slo.p99_ms)
        _throughput(axes[1][column], curve)
    fig.suptitle(f"{run.name}: latency against offered load", fontsize=12, weight="bold")
    fig.subplots_adjust(left=0.08, right=0.97, top=0.88, bottom=0.1, hspace=0.15, wspace=0.25)
    return fig


def _latency(ax: Any, c: RegionCurve, slo_ms: float) -> None:
    offered = [s.offered_rps for s in c.steps]
    ax.plot(offered, [s.p50_ms for s in c.steps], color="tab:gray", marker=".", linewidth=1.0, label="p50")
    for limited in (False, True):
        points = [(s.offered_rps, s.p99_ms) for s in c.steps if s.generator_limited is limited and s.p99_ms is not None]
        if points:
            ax.plot(*zip(*points, strict=True), linestyle="none", marker="o", color="tab:purple",
                    fillstyle="none" if limited else "full", label="p99 (generator behind)" if limited else "p99")  # fmt: skip
    ax.plot(offered, [s.p99_ms for s in c.steps], color="tab:purple", linewidth=0.8)
    ax.axhline(slo_ms, color="black", linestyle=":", linewidth=1.0, label=f"p99 SLO {slo_ms:g} ms")
    _knee(ax, c)
    ax.set_title(f"{c.region}: knee {_knee_text(c)}")
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize=7, loc="upper left")


def _throughput(ax: Any, c: RegionCurve) -> None:
    offered = [s.offered_rps for s in c.steps]
    ax.plot(offered, offered, color="black", linestyle=":", linewidth=0.8, label="offered")
    ax.plot(offered, [s.achieved_rps for s in c.steps], color="tab:blue", marker=".", linewidth=1.0, label="achieved")
    _knee(ax, c)
    ax.set_xlabel("offered requests/s")
    ax.set_ylabel("answers/s")
    ax.legend(fontsize=7, loc="upper left")


def _knee(ax: Any, c: RegionCurve) -> None:
    if c.knee_rps is not None:
        ax.axvline(c.knee_rps, color="tab:green", linestyle="--", linewidth=1.0)


def _knee_text(c: RegionCurve) -> str:
    if c.knee_rps is None:
        return "none (the first step broke the SLO)"
    at_least = "at least " if c.limited_by in ("generator", "ramp") else ""
    return f"{at_least}{c.knee_rps:g} req/s ({c.limited_by})"


def capacity_table(flow: Flow, run: RunFolder) -> None:
    """Each ramp's steps as numbers (capacity drills only)."""
    curves = run.journal.capacity_curve
    if curves is None:
        return
    for c in curves.regions:
        flow.heading(f"Capacity of {c.region}: knee {_knee_text(c)}")
        rows = [[f"{s.offered_rps:g}", f"{s.achieved_rps:g}", _ms(s.p50_ms), _ms(s.p99_ms), f"{s.error_ratio:.1%}",
                 f"{s.lag_p99_ms:g}", "generator behind" if s.generator_limited else ("yes" if s.within_slo else "NO")]
                for s in c.steps]  # fmt: skip
        flow.table([Column("offered/s", 10), Column("achieved/s", 10), Column("p50 ms", 8), Column("p99 ms", 8),
                    Column("errors", 8), Column("lag p99", 8), Column("within SLO", 18)], rows)  # fmt: skip


def scaling_table(flow: Flow, run: RunFolder) -> None:
    """The autoscaler's scale-outs (drills with an autoscaler only)."""
    s = run.journal.scaling
    if s is None:
        return
    flow.heading("Scaling")
    rows = [[o.region, f"{o.from_nodes} -> {o.to_nodes}", utc(o.requested_at), _ms(o.trigger_p99_ms),
             seconds(o.time_to_scale_s), seconds(o.first_request_s)] for o in s.scale_outs]  # fmt: skip
    rows += [[r, "refused", "-", "-", "-", "-"] for r in s.refused]
    rows += [[str(r["region"]), f"{r['nodes']} nodes ({r['ready']} ready)", utc(float(r["at"] or 0)), "-", "-", "-"] for r in s.replicas]
    flow.table([Column("region", 14), Column("nodes", 16), Column("requested", 22), Column("p99 then", 9),
                Column("to serving", 11), Column("first request", 13)], rows)  # fmt: skip


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
