"""The history store: rows from run folders, order and filters, rebuild, trend plots, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from drillkit.report.history import History, find_history, rebuild, record_run, row_of
from drillkit.report.run import load_run
from drillkit.report.trend import render_trend
from tests.fakes.runs import T0, all_sections, make_run

REPO = Path(__file__).resolve().parents[2]


def test_a_row_carries_the_runs_release_verdict_and_figures(tmp_path: Path) -> None:
    row = row_of(load_run(make_run(tmp_path / "r", rto_s=2.5, sections=all_sections())))
    assert (row.drill, row.release, row.commit[:8], row.verdict, row.exit_code) == ("region-outage", "v2.4.0-rc1", "01234567", "PASS", 0)
    assert (row.rto_s, row.ttd_s, row.failed_requests, row.rpo_s, row.restore_time_s) == (2.5, 0.4, 100, 120.0, 8.0)
    assert math.isclose(row.error_budget_consumed, 100 / 30)
    never = row_of(load_run(make_run(tmp_path / "n", rto_s=None)))
    assert math.isinf(never.rto_s) and never.verdict == "FAIL" and never.rpo_s is None


def test_rows_come_back_in_time_order_filtered_and_limited(tmp_path: Path) -> None:
    store = History(tmp_path / "history.sqlite")
    for i, name in enumerate(["node-crash", "region-outage", "node-crash", "node-crash"]):
        record_run(store.path, make_run(tmp_path / f"r{i}", name=name, rto_s=float(i), generated_at=T0 + 100 - i))
    assert [r.rto_s for r in store.rows()] == [3.0, 2.0, 1.0, 0.0]
    assert [r.rto_s for r in store.rows(drill="node-crash", last=2)] == [2.0, 0.0]  # the two most recent
    assert [r.rto_s for r in store.rows(drill="node-crash", before=T0 + 99)] == [3.0, 2.0]
    record_run(store.path, tmp_path / "r0")  # appending a run again replaces it
    assert len(store.rows()) == 4


def test_rebuild_finds_runs_in_the_reports_folder_and_inside_suite_folders(tmp_path: Path) -> None:
    make_run(tmp_path / "reports" / "region-outage-1")
    make_run(tmp_path / "reports" / "nightly-1" / "node-crash-1", name="node-crash")
    (tmp_path / "reports" / "empty").mkdir()
    store = History(tmp_path / "reports" / "history.sqlite")
    assert rebuild(store, tmp_path / "reports") == 2
    assert sorted(r.drill for r in store.rows()) == ["node-crash", "region-outage"]
    assert find_history(tmp_path / "reports" / "nightly-1" / "node-crash-1") == store.path


def test_a_broken_store_never_breaks_the_drill(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "history.sqlite"
    broken.write_text("this is not a database")
    record_run(broken, make_run(tmp_path / "r"))
    assert "history --rebuild" in caplog.text


def test_the_trend_renders_as_png_and_pdf(tmp_path: Path) -> None:
    store = History(tmp_path / "h.sqlite")
    for i, rto in enumerate([1.0, 1.5, None, 0.8]):
        record_run(store.path, make_run(tmp_path / f"r{i}", rto_s=rto, generated_at=T0 + i, sections=all_sections()))
    png = render_trend(store.rows(), tmp_path / "trend.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = PdfReader(render_trend(store.rows(), tmp_path / "trend.pdf")).pages[0].extract_text()
    assert "drillkit history: 4 runs" in text and "v2.4.0-rc1" in text


def test_the_cli_prints_json_and_rebuilds(tmp_path: Path) -> None:
    make_run(tmp_path / "reports" / "a", name="node-crash", rto_s=1.25)
    make_run(tmp_path / "reports" / "b", rto_s=None, generated_at=T0 + 500)
    command = [sys.executable, "-m", "drillkit", "history", "--reports", str(tmp_path / "reports")]
    done = subprocess.run([*command, "--rebuild", "--json"], capture_output=True, text=True, check=False, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["drill"], r["rto_s"]) for r in rows] == [("node-crash", 1.25), ("region-outage", None)]
    wide = {**os.environ, "COLUMNS": "200"}
    one = subprocess.run([*command, "--drill", "node-crash"], capture_output=True, text=True, check=False, cwd=REPO, timeout=120, env=wide)
    assert "node-crash" in one.stdout and "region-outage" not in one.stdout and "1.25" in one.stdout
