"""The load generator's live numbers (what loadgen abort guards read), from real log parts."""

from __future__ import annotations

from pathlib import Path

from drillkit.load import Load, LoadPlan
from drillkit.request_log import RequestLogWriter, RequestRecord

REPO = Path(__file__).resolve().parents[2]


def record(i: int, at: float, ok: bool, latency: float) -> RequestRecord:
    return RequestRecord(i, "recommend", at, at, latency, "ok" if ok else "error", "" if ok else "http_5xx",
                         200 if ok else 503, "primary", "primary-0", "w")  # fmt: skip


def test_recent_counts_only_the_window_and_reads_each_part_once(tmp_path: Path) -> None:
    load = Load(LoadPlan(trace=REPO / "loadtests/traces/sample.csv", host="http://127.0.0.1:9", run_dir=tmp_path))
    assert load.recent(5.0, now=100.0) is None  # nothing logged yet
    writer = RequestLogWriter(load.plan.request_log, worker="w")
    for i in range(10):
        writer.append(record(i, 80.0 + i, ok=True, latency=0.01))  # 80..89: outside a 5 s window at 100
    writer.flush()
    for i in range(10):
        writer.append(record(10 + i, 96.0 + i * 0.4, ok=i % 2 == 0, latency=0.5 if i == 9 else 0.02))
    writer.flush()
    live = load.recent(5.0, now=100.0)
    assert live is not None and live.requests == 10 and live.error_ratio == 0.5
    assert 400 < live.p99_ms <= 500
    assert load.progress().sent == 20
