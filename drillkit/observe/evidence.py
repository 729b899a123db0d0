"""What a drill collects from Prometheus for its journal, once, right after the load stops.

For every SLO check its range data over the drill (1 s steps), and the series the report
draws (rate by region, errors, latency, gateway backends, Triton queue and GPU figures).
Afterwards nothing queries Prometheus again: verdicts, the cross-check and the report are
pure functions of what is stored here. A failed query is stored as its error (NO_DATA).

>>> evidence = collect(client, drill_spec, start=t0, end=t1, series_window_s=2.0)  # doctest: +SKIP
>>> sorted(evidence)                                                               # doctest: +SKIP
['end', 'series', 'series_window_s', 'slos', 'start', 'step_s', 'url']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drillkit.observe.client import PromClient, PrometheusError
from drillkit.observe.promql import journal_series, objective
from drillkit.spec import DrillSpec
from drillkit.spec.slo import BurnRateSlo, SloCheck

STEP_S = 1.0


def collect(client: PromClient, spec: DrillSpec, *, start: float, end: float, series_window_s: float,
            regions: Sequence[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Range data of every SLO and journal series between ``start`` and ``end`` (unix times).

    ``regions``: the environment's region names, which the gateway backends by region need on
    Kubernetes (its servers are named after regions; see ``promql.backends_up_by_region``)."""
    slos = {c.name: _fetch(client, objective(c).query, _first_step(c, start, end), end) for c in spec.slos}
    series = {}
    for name, (query, unit) in journal_series(series_window_s, regions).items():
        series[name] = {**_fetch(client, query, start, end), "unit": unit, "step_s": STEP_S}
    return {"url": client.url, "start": start, "end": end, "step_s": STEP_S, "series_window_s": series_window_s,
            "slos": slos, "series": series}  # fmt: skip


def _first_step(check: SloCheck, start: float, end: float) -> float:
    """Skip the first rate window: before it fills, the rate covers less than the drill."""
    window = min(p.short_s for p in check.pairs) if isinstance(check, BurnRateSlo) else check.window_s
    return min(start + window, end)


def _fetch(client: PromClient, query: str, start: float, end: float) -> dict[str, Any]:
    try:
        found = client.range(query, start, end, STEP_S)
    except PrometheusError as exc:
        return {"query": query, "series": [], "error": str(exc)}
    return {"query": query, "series": [s.as_dict() for s in found if s.points]}
