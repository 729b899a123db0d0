"""The drill PDF is rendered for real from a run folder and read back as text."""

from __future__ import annotations

import json
from pathlib import Path

from pypdf import PdfReader

from drillkit.report.pdf import render_pdf
from drillkit.request_log import RequestLogWriter, RequestRecord


def test_the_pdf_carries_the_verdict_checks_and_measurements(tmp_path: Path) -> None:
    log = RequestLogWriter(tmp_path / "request_log", worker="w")
    for i in range(300):
        at = 1_000.0 + i * 0.05
        failed = 5.0 <= at - 1_000.0 < 6.0
        log.append(RequestRecord(i, "recommend", at, at, 0.004, "error" if failed else "ok", "http_5xx" if failed else "",
                                 503 if failed else 200, "primary" if at < 1_006 else "standby", "n", "w"))  # fmt: skip
    log.flush()
    journal = {
        "drill": {"name": "region-outage", "experiment": "chaos/region-outage.json", "slo": {"p99_ms": 250, "window_s": 1.0}},
        "exit_code": 1, "fault_start": 1_005.0, "rollback_end": 1_010.0,
        "checks": [{"name": "recovery", "verdict": "FAIL", "detail": "RTO 7.00 s (budget 5 s)"}],
        "measurements": {"rto_s": None, "rto_s_never": True, "ttd_s": 0.25, "outage_s": 1.0, "failed_requests": 20,
                         "requests": 300, "worst_p99_s": 0.004, "failback_s": None},
    }  # fmt: skip
    (tmp_path / "journal.json").write_text(json.dumps(journal))
    path = render_pdf(tmp_path, generated_at=1_795_000_000.0)
    reader = PdfReader(path)
    assert len(reader.pages) == 2
    text = reader.pages[0].extract_text()
    assert "drillkit drill report: region-outage" in text
    assert "verdict: FAIL (exit code 1)" in text
    assert "RTO 7.00 s (budget 5 s)" in text
    assert "RTO: never" in text and "TTD: 0.25 s" in text and "failed requests: 20 of 300" in text
    assert "generated 2026-11-18" in text  # the time passed in, not the clock
    assert "what users felt" in reader.pages[1].extract_text()
