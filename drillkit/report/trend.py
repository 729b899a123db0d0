"""Trends across runs from the history store: RTO and failed requests per drill, by release.

>>> render_trend(History(Path("reports/history.sqlite")).rows(), Path("trend.png"))   # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from drillkit.errors import SpecError
from drillkit.report.history import HistoryRow
from drillkit.report.layout import A4_LANDSCAPE, new_page


def render_trend(rows: list[HistoryRow], target: Path) -> Path:
    """Write the trend as PDF or PNG (by ``target``'s suffix); one line per drill."""
    if target.suffix.lower() not in (".pdf", ".png"):
        raise SpecError("--trend", str(target), "unknown format", "end the file name with .pdf or .png")
    fig = trend_figure(rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".png":
        fig.savefig(target, dpi=120)
    else:
        with PdfPages(target) as pdf:
            pdf.savefig(fig)
    return target


def trend_figure(rows: list[HistoryRow]) -> Figure:
    """RTO (a never-recovered run drawn as a red x at the top) and failed requests per run."""
    fig = new_page(A4_LANDSCAPE)
    rto_ax, failed_ax = fig.subplots(2, 1, sharex=True)
    labels = [f"{r.release or '?'}\n{r.drill}" for r in rows]
    for drill in sorted({r.drill for r in rows}):
        index = [i for i, r in enumerate(rows) if r.drill == drill]
        rto = [rows[i].rto_s for i in index]
        finite = [(i, v) for i, v in zip(index, rto, strict=True) if v is not None and not math.isinf(v)]
        line = rto_ax.plot([i for i, _ in finite], [v for _, v in finite], marker="o", linewidth=1, label=drill)[0]
        never = [i for i, v in zip(index, rto, strict=True) if v is not None and math.isinf(v)]
        if never:
            rto_ax.plot(never, [max((v for _, v in finite), default=1.0) * 1.2] * len(never), "x", color="red", markersize=9)
        failed_ax.plot(index, [rows[i].failed_requests or 0 for i in index], marker="o", linewidth=1, color=line.get_color())
    rto_ax.set_ylabel("RTO (s)")
    failed_ax.set_ylabel("failed requests")
    failed_ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=6)
    if rows:
        rto_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.suptitle(f"drillkit history: {len(rows)} runs (x: never recovered)", fontsize=12, weight="bold")
    fig.subplots_adjust(left=0.07, right=0.85, top=0.92, bottom=0.22, hspace=0.1)
    return fig
