"""Pages of the Prometheus range data a run recorded (journal ``series``).

The gateway and SLO series get one page; Triton's GPU series (``nv_gpu_*``: utilization,
memory used, power) get their own page when present. Each panel names its PromQL.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from drillkit.journal import Journal, Series
from drillkit.report.layout import A4_LANDSCAPE, new_page
from drillkit.report.timeline import fault_windows

_GPU_PREFIXES = ("gpu_", "nv_gpu")
_PER_PAGE = 6


def series_pages(journal: Journal, origin: float) -> list[Figure]:
    """One page of service series and one of GPU series (each only when present)."""
    # A query that found nothing (the GPU series on a CPU-only run) gets no panel.
    series = {k: v for k, v in (journal.series or {}).items() if any(s.points for s in v.series)}
    gpu = {k: v for k, v in series.items() if k.startswith(_GPU_PREFIXES)}
    other = {k: v for k, v in series.items() if not k.startswith(_GPU_PREFIXES)}
    pages = []
    for title, group in (("Prometheus view", other), ("GPUs (Triton nv_gpu_* metrics)", gpu)):
        names = sorted(group)
        for first in range(0, len(names), _PER_PAGE):
            chunk = {n: group[n] for n in names[first : first + _PER_PAGE]}
            pages.append(_page(f"{journal.name}: {title}", chunk, journal, origin))
    return pages


def _page(title: str, chunk: dict[str, Series], journal: Journal, origin: float) -> Figure:
    fig = new_page(A4_LANDSCAPE)
    axes = fig.subplots(len(chunk), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, data) in zip(axes, chunk.items(), strict=True):
        _panel(ax, name, data, origin)
        for _, start, end in fault_windows(journal, origin, end=ax.get_xlim()[1]):
            ax.axvspan(start, max(start, end), color="#f4a261", alpha=0.2)
    axes[-1].set_xlabel("seconds since the first request")
    fig.suptitle(title, fontsize=12, weight="bold")
    fig.subplots_adjust(left=0.08, right=0.80, top=0.92, bottom=0.1, hspace=0.55)
    return fig


def _panel(ax: Any, name: str, data: Series, origin: float) -> None:
    for s in data.series[:8]:  # a legend beyond eight lines is unreadable
        ax.plot([t - origin for t, _ in s.points], [v for _, v in s.points], linewidth=1.0, label=_label(s.labels))
    ax.set_ylabel(data.unit or "", fontsize=7)
    query = data.query
    ax.set_title(f"{name}: {query if len(query) <= 110 else query[:107] + '...'}", fontsize=7, loc="left", family="DejaVu Sans Mono")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False)


def _label(labels: dict[str, str]) -> str:
    keep = {k: v for k, v in labels.items() if k not in ("__name__", "job", "instance")} or labels
    return ", ".join(f"{k}={v}" for k, v in sorted(keep.items()))[:40] or "value"
