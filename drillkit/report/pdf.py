"""The first plain drill PDF: what users felt over time, with the fault shaded.

Three panels over the drill: request rate by serving region, error ratio, and p99 latency
against the SLO; the fault window (injection to end of rollback) is shaded and the RTO is
marked. A pure function of the run folder: a past run renders the same again.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to file only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from drillkit.request_log import read_request_log  # noqa: E402


def render_pdf(run_dir: Path, *, generated_at: float) -> Path:
    """Write ``run_dir/report.pdf`` from ``journal.json`` and the request log."""
    journal = json.loads((run_dir / "journal.json").read_text())
    log = read_request_log(run_dir / "request_log")
    target = run_dir / "report.pdf"
    with PdfPages(target) as pdf:
        pdf.savefig(_summary_page(journal, generated_at))
        if len(log):
            pdf.savefig(_timeline_page(journal, log))
        plt.close("all")
    return target


def _summary_page(journal: dict, generated_at: float) -> plt.Figure:  # type: ignore[type-arg]
    fig = plt.figure(figsize=(8.27, 11.69))
    drill = journal["drill"]
    m = journal.get("measurements") or {}
    lines = [
        f"drillkit drill report: {drill['name']}",
        f"generated {datetime.fromtimestamp(generated_at, UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"experiment: {drill['experiment']}",
        f"verdict: {'PASS' if journal['exit_code'] == 0 else 'FAIL'} (exit code {journal['exit_code']})",
        "",
        *(f"{c['verdict']:8} {c['name']}: {c['detail']}" for c in journal["checks"]),
        "",
        f"RTO: {_seconds(m, 'rto_s')}   TTD: {_seconds(m, 'ttd_s')}   outage: {_seconds(m, 'outage_s')}",
        f"failed requests: {m.get('failed_requests', '-')} of {m.get('requests', '-')}   "
        f"worst p99: {_seconds(m, 'worst_p99_s')}   failback: {_seconds(m, 'failback_s')}",
    ]
    fig.text(0.07, 0.95, "\n".join(lines), va="top", family="monospace", fontsize=9)
    return fig


def _timeline_page(journal: dict, log) -> plt.Figure:  # type: ignore[no-untyped-def,type-arg]
    slo = journal["drill"]["slo"]
    origin = float(log["scheduled_at"].min())
    second = ((log["scheduled_at"] - origin) // slo["window_s"]).astype(int) * slo["window_s"]
    fig, (rate, errors, p99) = plt.subplots(3, 1, figsize=(11.69, 8.27), sharex=True)
    by_region = log[log["outcome"] == "ok"].groupby([second, "region"]).size().unstack(fill_value=0) / slo["window_s"]
    for region in by_region.columns:
        rate.plot(by_region.index, by_region[region], label=f"served by {region or '?'}")
    rate.set_ylabel("requests/s")
    rate.legend(loc="upper right")
    grouped = log.groupby(second)
    errors.plot(grouped["outcome"].apply(lambda s: (s != "ok").mean()), color="tab:red")
    errors.set_ylabel("error ratio")
    p99.plot(grouped["latency_s"].quantile(0.99) * 1e3, color="tab:purple", label="p99")
    p99.axhline(slo["p99_ms"], color="grey", linestyle="--", label="SLO")
    p99.set_ylabel("ms")
    p99.set_xlabel("seconds since the first request")
    p99.legend(loc="upper right")
    _mark(journal, origin, (rate, errors, p99))
    fig.suptitle(f"{journal['drill']['name']}: what users felt")
    return fig


def _mark(journal: dict, origin: float, axes: tuple) -> None:  # type: ignore[type-arg]
    start, end = journal.get("fault_start"), journal.get("rollback_end")
    m = journal.get("measurements") or {}
    for ax in axes:
        if start is not None:
            ax.axvspan(start - origin, (end or start) - origin, color="orange", alpha=0.2, label="fault")
            if m.get("rto_s") is not None:
                ax.axvline(start - origin + m["rto_s"], color="green", linestyle=":", label="recovered (RTO)")


def _seconds(m: dict, key: str) -> str:  # type: ignore[type-arg]
    if m.get(f"{key}_never"):
        return "never"
    value = m.get(key)
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f} s"
