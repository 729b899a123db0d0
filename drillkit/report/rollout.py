"""The release's page and table: which version each node served over time, what users got
from each version, and the canary's comparison with the decision it led to.

The page has two panels on one time axis (seconds since the first request): each node as a
bar coloured by the version it served (grey while it restarted), and the answers users got
per second by version (from the request log's version column). The table gives the canary's
numbers against the old version's, the decision and its reasons, the times to detect and to
roll back, and the wrong answers the audit counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from drillkit.report.layout import A4_LANDSCAPE, Column, Flow, new_page
from drillkit.report.run import RunFolder, seconds
from drillkit.rollout.report import RolloutReport

_COLORS = ("#2a9d8f", "#e76f51", "#8d99ae", "#e9c46a", "#264653")
_RESTARTING = "#d0d0d0"


def rollout_page(run: RunFolder) -> Figure | None:
    """The release's page, or None when the drill released nothing."""
    section = run.journal.rollout
    if section is None or section.report is None:
        return None
    report, log = section.report, run.log
    origin = float(log["scheduled_at"].min()) if len(log) else report.started_at
    end = float(log["scheduled_at"].max()) - origin if len(log) else (report.ended_at or report.started_at) - origin
    colors = _colors(report)
    fig = new_page(A4_LANDSCAPE)
    nodes_ax, served_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    _nodes(nodes_ax, report, origin, end, colors)
    _served(served_ax, log, origin, colors)
    served_ax.set_xlabel("seconds since the first request")
    wrong = section.wrong_answers_served
    fig.suptitle(f"{run.name}: release {report.plan.version} over {report.plan.previous}: {(report.outcome or '').replace('_', ' ')}"
                 + (f", {wrong} wrong answers served" if wrong is not None else ""), fontsize=12, weight="bold")  # fmt: skip
    fig.legend(*_legend(colors), loc="lower center", bbox_to_anchor=(0.5, 0.045), ncol=len(colors) + 1, fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.91, bottom=0.16, hspace=0.1)
    return fig


def rollout_table(flow: Flow, run: RunFolder) -> None:
    """The canary's comparison, the decision and the audit (release drills only)."""
    section = run.journal.rollout
    if section is None:
        return
    flow.heading("Release")
    if section.report is None:
        flow.paragraph(f"The rollout did not run: {section.error}")
        return
    r, c, a = section.report, section.report.comparison, section.audit
    rows = [["release", f"{r.plan.version} over {r.plan.previous}, order {' -> '.join(r.plan.order)}"],
            ["outcome", f"{r.outcome}: {'; '.join(r.reasons) or 'every bound held'}"],
            ["time to detect", f"{seconds(r.time_to_detect_s)} from the canary's first request"],
            ["time to roll back", f"{seconds(r.time_to_rollback_s)} from the rollout's start to every node back, verified"]]
    if c is not None:
        rows += [["canary compared", f"{c.requests} requests to {c.canary} and {c.reference}: {c.wrong} wrong of {c.answered}, "
                                     f"errors {c.errors_new} (old {c.errors_old})"],
                 ["latency p50 / p99", f"{c.p50_ms_new} / {c.p99_ms_new} ms against {c.p50_ms_old} / {c.p99_ms_old} ms"]]  # fmt: skip
        if c.tail_quantile is not None:
            rows.append([f"judged tail (p{round(c.tail_quantile * 100):g})", f"{c.tail_ms_new} ms against {c.tail_ms_old} ms"])
    if a is not None:
        served = ", ".join(f"{v} {n}" for v, n in a.served.items()) or "none"
        rows.append(["answers served by the release", f"{served}; audited {a.audited} against {a.reference_node}: "
                                                      f"{a.wrong} wrong, {a.unaudited} not audited"])  # fmt: skip
    flow.table([Column("", 28), Column("", 68)], rows)
    steps = [[s.node, s.version, s.role, f"{(s.serving_at or s.requested_at) - s.requested_at:.1f} s",
              "yes" if s.verified_at else "-", s.error or ""] for s in r.steps]  # fmt: skip
    flow.table([Column("node", 14), Column("version", 12), Column("step", 9), Column("took", 8), Column("verified", 9),
                Column("error", 44)], steps)  # fmt: skip


def _colors(report: RolloutReport) -> dict[str, str]:
    versions = [report.plan.previous, report.plan.version]
    return {v: _COLORS[i % len(_COLORS)] for i, v in enumerate(dict.fromkeys(versions))}


def _nodes(ax: Any, report: RolloutReport, origin: float, end: float, colors: dict[str, str]) -> None:
    for row, node in enumerate(report.plan.order):
        version, since = report.plan.previous, 0.0
        for step in (s for s in report.steps if s.node == node):
            down = (step.drained_at or step.requested_at) - origin
            ax.broken_barh([(since, max(down - since, 0))], (row - 0.35, 0.7), color=colors[version])
            up = (step.serving_at - origin) if step.serving_at else down
            ax.broken_barh([(down, max(up - down, 0))], (row - 0.35, 0.7), color=_RESTARTING)
            version, since = (step.version, up) if step.error is None else (version, up)
        ax.broken_barh([(since, max(end - since, 0))], (row - 0.35, 0.7), color=colors.get(version, _RESTARTING))
    ax.set_yticks(range(len(report.plan.order)), report.plan.order)
    ax.invert_yaxis()
    if report.decided_at is not None:
        ax.axvline(report.decided_at - origin, color="black", linestyle="--", linewidth=1.0)


def _served(ax: Any, log: Any, origin: float, colors: dict[str, str]) -> None:
    ok = log[log["outcome"] == "ok"]
    if not len(ok):
        return
    bins = np.arange(0, float(ok["scheduled_at"].max()) - origin + 2, 1.0)
    for version, rows in ok.groupby("version"):
        counts, _ = np.histogram(rows["scheduled_at"] - origin, bins=bins)
        ax.plot(bins[:-1], counts, drawstyle="steps-post", linewidth=1.0, color=colors.get(str(version), "tab:blue"))
    ax.set_ylabel("answers/s by version")


def _legend(colors: dict[str, str]) -> tuple[list[Any], list[str]]:
    from matplotlib.patches import Patch

    handles = [Patch(color=c) for c in colors.values()] + [Patch(color=_RESTARTING)]
    return handles, [f"version {v}" for v in colors] + ["restarting"]
