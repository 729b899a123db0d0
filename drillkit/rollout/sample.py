"""The requests a canary is compared on: a trace's rows, spread across it, or the previous
version's golden probes, cycled to the sample's size.

>>> len(sample_requests(golden, 200, trace=Path("loadtests/traces/drill.parquet")))   # doctest: +SKIP
200
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drillkit.model.client import EncodedRequest
from drillkit.trace import read_trace
from drillkit.workload.golden import GoldenSet
from drillkit.workload.requests import rows_of


def sample_requests(golden: GoldenSet, count: int, *, trace: Path | None = None) -> list[EncodedRequest]:
    """``count`` requests: from ``trace`` (evenly spread over its rows) when given, else the golden probes."""
    if trace is not None:
        rows = rows_of(read_trace(trace))
        total = len(rows.kind)
        return [rows.request(int(i)) for i in np.linspace(0, total - 1, count).round()]
    probes = golden.interleaved()
    return [probes[i % len(probes)].request for i in range(count)]
