"""The drill PDF is rendered for real from run folders and read back as text (never patched)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pypdfium2
from matplotlib.backends.backend_agg import FigureCanvasAgg
from pypdf import PdfReader

from drillkit.report.aggregate import aggregate
from drillkit.report.layout import number_pages
from drillkit.report.pdf import drill_pages, render_report
from drillkit.report.run import load_run
from tests.fakes.runs import T0, all_sections, make_run


def _texts(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def test_a_recorded_run_renders_verdict_rto_slos_and_a_png_of_page_one(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", rto_s=2.0, sections=all_sections())
    path = render_report(run)
    pages = _texts(path)
    assert len(pages) == 5  # cover, timeline, details, Prometheus view, GPUs
    cover = pages[0]
    assert "drillkit drill report: region-outage" in cover and "verdict: PASS (exit code 0)" in cover
    assert "RTO (recovery time) 2.00 s" in cover and "TTD (time to detect) 0.40 s" in cover
    assert "release under test v2.4.0-rc1" in cover and "0123456789abcdef" in cover
    assert "model version v1" in cover and "report generated 2026-05-28" in cover
    assert "what users felt" in pages[1] and "RTO 2.00 s" in pages[1] and "fault: crash-primary-region" in pages[1]
    details = pages[2]
    assert "availability" in details and "latency-p99" in details
    assert "histogram_quantile(0.99" in details  # the PromQL behind the verdict
    assert "RPO (data loss window) 120.00 s" in details and "restore time 8.00 s" in details
    assert "crash-primary-region region_outage 0.30 s succeeded node: primary-0, primary-1" in details
    assert "Prometheus view" in pages[3] and "GPUs (Triton nv_gpu_* metrics)" in pages[4]
    assert all(f"page {i} of 5" in text for i, text in enumerate(pages, start=1))
    png = tmp_path / "report-page-1.png"
    pypdfium2.PdfDocument(path)[0].render(scale=1.5).to_pil().save(png)
    assert png.stat().st_size > 20_000  # a person can look at it in the test's tmp folder


def test_series_that_found_nothing_get_no_panel_or_page(tmp_path: Path) -> None:
    sections = all_sections()
    sections["series"] = {k: {**v, "series": []} if k.startswith("gpu_") else v for k, v in sections["series"].items()}
    pages = _texts(render_report(make_run(tmp_path / "cpu", sections=sections)))
    assert len(pages) == 4 and "GPUs" not in "".join(pages)  # a CPU-only run: no GPU page


def test_an_older_run_without_optional_sections_renders_what_exists(tmp_path: Path) -> None:
    pages = _texts(render_report(make_run(tmp_path / "old")))
    assert len(pages) == 3  # cover, timeline, details
    text = "".join(pages)
    assert "SLOs (Prometheus)" not in text and "Restore and RPO" not in text and "GPUs" not in text
    assert "release under test -" in pages[0] and "Chaos activity log" in pages[2]


def test_a_run_that_never_recovered_reads_fail_and_never(tmp_path: Path) -> None:
    run = make_run(tmp_path / "f", rto_s=None, rto_budget_s=5, sections={"abort": {
        "tripped": True, "guard": "error-ratio", "reason": "error ratio 0.9 > 0.5", "at": T0 + 25, "source": "prometheus",
        "signal": "error_ratio", "value": 0.9}})  # fmt: skip
    pages = _texts(render_report(run))
    assert "verdict: FAIL (exit code 1)" in pages[0] and "RTO (recovery time) never" in pages[0]
    assert "ABORTED by guard error-ratio" in pages[0] and "abort: error-ratio" in pages[1]


def test_a_re_render_of_an_old_run_gives_the_same_content(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", sections=all_sections())
    first = render_report(run, target=tmp_path / "first.pdf")
    second = render_report(run, target=tmp_path / "second.pdf")
    assert _texts(first) == _texts(second)
    assert "2026-05-28 20:27:41 UTC" in _texts(first)[0]  # the journal's time, not the clock


def test_no_text_overlaps_on_any_page(tmp_path: Path) -> None:
    sections = all_sections()
    sections["slos"] = sections["slos"] * 12  # long PromQL tables that spill over pages
    pages = drill_pages(load_run(make_run(tmp_path / "o", sections=sections)), T0)
    number_pages(pages, "footer")
    for page in pages:
        renderer = FigureCanvasAgg(page).get_renderer()
        boxes = [t.get_window_extent(renderer) for t in page.texts if t.get_text().strip()]
        boxes += [leg.get_window_extent(renderer) for leg in page.legends]
        for a, b in itertools.combinations(boxes, 2):
            assert a.intersection(a, b) is None or a.intersection(a, b).width * a.intersection(a, b).height < 1.0


def test_window_aggregates_match_pandas_exactly() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    log = pd.DataFrame({"scheduled_at": np.sort(rng.uniform(0, 120, n)) + T0, "latency_s": rng.exponential(0.02, n),
                        "outcome": np.where(rng.random(n) < 0.05, "error", "ok"), "region": rng.choice(["a", "b"], n)})  # fmt: skip
    w = aggregate(log, origin=T0, window_s=2.0)
    groups = log.groupby(np.floor((log["scheduled_at"] - T0) / 2.0).astype(int))
    np.testing.assert_allclose(w.p99_ms, groups["latency_s"].quantile(0.99).to_numpy() * 1e3)
    np.testing.assert_allclose(w.p50_ms, groups["latency_s"].median().to_numpy() * 1e3)
    np.testing.assert_allclose(w.error_ratio, groups["outcome"].apply(lambda s: (s != "ok").mean()).to_numpy())
    ok = log[log["outcome"] == "ok"]
    by = ok.groupby([np.floor((ok["scheduled_at"] - T0) / 2.0).astype(int), "region"]).size().unstack(fill_value=0) / 2.0
    np.testing.assert_allclose(w.rps_by_region["a"], by["a"].to_numpy())
