"""The timeline page: what users felt over the drill, with the faults and the recovery marked.

Three panels share the time axis (seconds since the first request): successful requests/s by
serving region, the error ratio, and p50/p99 latency against the SLO. Each fault is shaded
from its injection to the end of the rollback and named in the legend; TTD, RTO, failback
and an abort are vertical lines. One legend below the panels keeps labels from overlapping.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from drillkit.events import fault_outputs
from drillkit.journal import Journal
from drillkit.report.aggregate import WindowSeries, aggregate
from drillkit.report.alerting import alert_moments
from drillkit.report.layout import A4_LANDSCAPE, new_page
from drillkit.report.run import RunFolder

_FAULT_COLORS = ("#f4a261", "#e76f51", "#e9c46a", "#c77dff")


class Marker(NamedTuple):
    at: float  # seconds since the origin
    label: str
    color: str


def timeline_page(run: RunFolder) -> Figure | None:
    """The timeline figure, or None when the run logged no request."""
    log = run.log
    if not len(log):
        return None
    slo = run.journal.drill.slo
    origin = float(log["scheduled_at"].min())
    w = aggregate(log, origin=origin, window_s=slo.window_s)
    fig = new_page(A4_LANDSCAPE)
    rate, errors, latency = fig.subplots(3, 1, sharex=True)
    _plot(w, rate, errors, latency, slo.p99_ms)
    for ax in (rate, errors, latency):
        _shade(ax, fault_windows(run.journal, origin, end=float(w.t[-1]) + 1))
        for m in markers(run.journal, origin):
            ax.axvline(m.at, color=m.color, linestyle="--", linewidth=1.2, label=m.label)
    latency.set_xlabel("seconds since the first request")
    fig.suptitle(f"{run.name}: what users felt", fontsize=12, weight="bold")
    unique: dict[str, Any] = {}
    for ax in (rate, errors, latency):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    fig.legend(unique.values(), unique.keys(), loc="lower center", bbox_to_anchor=(0.5, 0.035), ncol=min(4, len(unique)),
               fontsize=8, frameon=False)  # fmt: skip
    fig.subplots_adjust(left=0.08, right=0.97, top=0.92, bottom=0.19, hspace=0.12)
    return fig


def _plot(w: WindowSeries, rate: Any, errors: Any, latency: Any, slo_ms: float) -> None:
    for region, values in w.rps_by_region.items():
        rate.plot(w.t, values, linewidth=1.0, drawstyle="steps-post", label=f"served by {region}")
    rate.set_ylabel("requests/s")
    errors.plot(w.t, w.error_ratio, color="tab:red", linewidth=1.0, drawstyle="steps-post", label="error ratio")
    errors.set_ylabel("error ratio")
    errors.set_ylim(-0.02, max(0.05, float(np.nanmax(w.error_ratio, initial=0.0))) * 1.1)
    latency.plot(w.t, w.p50_ms, color="tab:gray", linewidth=1.0, drawstyle="steps-post", label="p50 latency")
    latency.plot(w.t, w.p99_ms, color="tab:purple", linewidth=1.0, drawstyle="steps-post", label="p99 latency")
    if math.isfinite(slo_ms):
        latency.axhline(slo_ms, color="black", linestyle=":", linewidth=1.0, label=f"p99 SLO {slo_ms:g} ms")
        top = float(np.nanmax(w.p99_ms, initial=0.0))
        latency.set_ylim(0, min(max(top, slo_ms * 1.5), slo_ms * 8) * 1.1)  # huge timeouts would hide the SLO line
    latency.set_ylabel("latency (ms)")


def fault_windows(journal: Journal, origin: float, *, end: float) -> list[tuple[str, float, float]]:
    """(activity name, injected, rolled back) for every injecting activity, in seconds since origin."""
    rolled = journal.rollback_end
    return [(str(e.name or e.func), f.injected_at - origin, (rolled - origin) if rolled else end)
            for e, f in fault_outputs(journal.timeline)]  # fmt: skip


def markers(journal: Journal, origin: float) -> list[Marker]:
    """TTD, RTO, failback, abort, scale-outs and alert pages as lines (only those the run measured)."""
    m = journal.measurements
    start, rolled = journal.fault_start, journal.rollback_end
    out = []
    if m is not None:
        for value, label, color, base in ((m.ttd_s, "TTD", "tab:orange", start), (m.rto_s, "RTO", "tab:green", start),
                                          (m.failback_s, "failback", "tab:cyan", rolled)):  # fmt: skip
            if base is not None and value is not None and math.isfinite(value):
                out.append(Marker(base + value - origin, f"{label} {value:.2f} s", color))
    if journal.abort is not None and journal.abort.tripped:
        out.append(Marker(journal.abort.at - origin, f"abort: {journal.abort.guard}", "black"))
    for o in journal.scaling.scale_outs if journal.scaling is not None else []:
        out.append(Marker(o.serving_at - origin, f"{o.region} {o.from_nodes}->{o.to_nodes} nodes ({o.time_to_scale_s:.1f} s)", "tab:brown"))
    out += [Marker(at - origin, label, "tab:red" if label.startswith("paged") else "tab:olive") for at, label in alert_moments(journal)]
    return out


def _shade(ax: Any, windows: list[tuple[str, float, float]]) -> None:
    for i, (name, start, end) in enumerate(windows):
        ax.axvspan(start, max(end, start), color=_FAULT_COLORS[i % len(_FAULT_COLORS)], alpha=0.25, label=f"fault: {name}")
