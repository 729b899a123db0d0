"""Benchmark of the drill report (``make bench``; not part of ``make test``).

Renders the PDF of a synthetic 10-minute drill at 300 requests/s (180,000 request rows,
every optional journal section present) and prints the time of each step. The issue's
target: <= 5 s for the whole render.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from drillkit.report.aggregate import aggregate
from drillkit.report.pdf import render_report
from drillkit.report.run import load_run
from tests.fakes.runs import T0, all_sections, make_run


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(Path(tmp) / "run", duration_s=600, rps=300, fault_at=200, outage_s=3, rollback_at=400,
                           sections=all_sections())  # fmt: skip
        started = time.perf_counter()
        run = load_run(run_dir)
        rows = len(run.log)
        loaded = time.perf_counter()
        aggregate(run.log, origin=T0, window_s=1.0)
        aggregated = time.perf_counter()
        path = render_report(run_dir)
        done = time.perf_counter()
        print(f"report of a 600 s drill at 300 req/s ({rows} requests): read {loaded - started:.2f} s, "
              f"windows {aggregated - loaded:.2f} s, full render {done - aggregated:.2f} s "
              f"({path.stat().st_size // 1024} KiB PDF); target <= 5 s")  # fmt: skip


if __name__ == "__main__":
    main()
