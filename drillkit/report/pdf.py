"""The drill PDF: a pure function of the run folder (``drillkit report RUN_DIR``).

Pages, in order: the cover (verdict, drill, environment, model version, release and commit,
times, checks, measurements); the timeline (requests/s by region, error ratio, p50/p99 with
the SLO, faults shaded, TTD/RTO/failback marked); for a release, its rollout (nodes by version
over time, answers by version); the tables (SLOs with their PromQL, the Prometheus
cross-check, restore and RPO, the release's comparison and decision, the chaos activity log,
environment and versions);
then the Prometheus series and the GPU series when the run recorded them. Sections an older
journal lacks are left out. Nothing here reads the clock or queries a live system: the
report's time is ``generated_at`` (by default the journal's own), so a past run renders the
same content again.

>>> render_report(Path("reports/region-outage-20260101-030000"))   # doctest: +SKIP
PosixPath('reports/region-outage-20260101-030000/report.pdf')
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from drillkit.report.alerting import alerting_table
from drillkit.report.capacity import capacity_page, capacity_table, scaling_table
from drillkit.report.cover import cover, utc
from drillkit.report.layout import Flow, number_pages
from drillkit.report.rollout import rollout_page, rollout_table
from drillkit.report.run import RunFolder, load_run
from drillkit.report.series import series_pages
from drillkit.report.tables import (
    activity_table,
    cross_check_table,
    environment_table,
    restore_table,
    slo_table,
)
from drillkit.report.timeline import timeline_page

REPORT_NAME = "report.pdf"


def render_report(run_dir: Path, *, generated_at: float | None = None, target: Path | None = None) -> Path:
    """Write the run's PDF (default ``run_dir/report.pdf``) and return its path."""
    run = load_run(run_dir)
    at = run.generated_at if generated_at is None else generated_at
    return write_pdf(drill_pages(run, at), target or Path(run_dir) / REPORT_NAME,
                     footer=f"drillkit {run.name} - {utc(at)}", generated_at=at)  # fmt: skip


def drill_pages(run: RunFolder, generated_at: float) -> list[Figure]:
    """Every page of one drill's report, unnumbered (a suite report concatenates them)."""
    front = Flow(title=f"{run.name}: drill report")
    cover(front, run, generated_at)
    pages = list(front.pages)
    pages += [page for page in (timeline_page(run), rollout_page(run), capacity_page(run)) if page is not None]
    origin = float(run.log["scheduled_at"].min()) if len(run.log) else float(run.journal.fault_start or 0.0)
    back = Flow(title=f"{run.name}: details")
    slo_table(back, run)
    cross_check_table(back, run)
    restore_table(back, run)
    rollout_table(back, run)
    capacity_table(back, run)
    scaling_table(back, run)
    alerting_table(back, run)
    activity_table(back, run, origin)
    environment_table(back, run)
    return [*pages, *back.pages, *series_pages(run.journal, origin)]


def write_pdf(pages: list[Figure], target: Path, *, footer: str, generated_at: float) -> Path:
    """Number ``pages`` and write them as one PDF dated ``generated_at`` (not the clock)."""
    number_pages(pages, footer)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.pdf")
    when = datetime.fromtimestamp(generated_at, UTC)
    with PdfPages(tmp, metadata={"CreationDate": when, "ModDate": when, "Title": footer}) as pdf:
        for page in pages:
            pdf.savefig(page)
    tmp.replace(target)
    return target
