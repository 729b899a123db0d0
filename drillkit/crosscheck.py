"""The Prometheus cross-check: TTD and RTO computed a second time, from range data.

The request log is the measuring instrument; Prometheus is what SREs trust. Both must tell
the same story, so the drill recomputes its two headline numbers from the series it stored
(1 s steps) and records both values and their difference. Prometheus sees a change at the
next scrape and reads it on the query's step grid, so a difference over one scrape interval
plus one step plus the log's resolution is flagged. Pure functions of the journal's series.

- RTO: a step ``t`` is good when the error ratio and the p99 over its rate window
  ``(t - lag, t]`` meet the SLO; the window's start ``t - lag`` is when good service began.
  The same ``recovery`` rule as the request log then applies, to the steps whose window
  starts at or after the injection (a slow request before it is not the fault's).
- TTD: the first step at which HAProxy's exporter shows a faulted server not UP.

Prometheus counts a request when it ends, so its RTO is compared with the request log's RTO
read the same way (``Measurements.rto_ended_s``), not with the verdict's RTO by send time: a
request sent during the fault that fails two seconds later by a timeout would otherwise show
as a two-second disagreement between instruments that agree.

>>> cross_check(measurements, series, fault_start=t0, faulted={"primary-0"}, ...)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

from drillkit.measure import Measurements, recovery
from drillkit.units import Record, Seconds


class CrossCheck(Record):
    """TTD and RTO from the request log and from Prometheus, and their differences (prom - log)."""

    ttd_log_s: Seconds | None
    ttd_prom_s: Seconds | None
    ttd_diff_s: Seconds | None
    rto_log_s: Seconds
    rto_log_ended_s: Seconds | None = None  # what rto_diff_s compares with (None: old journals, then rto_log_s)
    rto_prom_s: Seconds | None
    rto_diff_s: Seconds | None
    scrape_interval_s: float
    flagged: bool
    note: str


def _points(series: dict[str, Any] | None) -> dict[float, float]:
    """One unlabelled series' points by time (the aggregated queries have a single series)."""
    found = (series or {}).get("series") or []
    return {float(t): float(v) for t, v in found[0]["points"]} if found else {}


def prom_rto(series: dict[str, Any], *, fault_start: float, error_budget: float, p99_slo_ms: float,
             stable_for_s: float, step_s: float, lag_s: float, since: float | None = None) -> float | None:  # fmt: skip
    """RTO from the stored ``error_ratio`` and ``latency_p99_ms`` series (None: no data),
    judging the steps whose rate window starts at or after ``since`` (default fault_start)."""
    begin = fault_start if since is None else since
    errors, p99 = _points(series.get("error_ratio")), _points(series.get("latency_p99_ms"))
    steps = [(t - lag_s, errors[t] <= error_budget and p99[t] <= p99_slo_ms)
             for t in sorted(errors) if t in p99 and t > fault_start and t - lag_s >= begin]  # fmt: skip
    if not steps:
        return None
    return recovery(steps, fault_start, stable_for_s=stable_for_s, step_s=step_s)


def prom_ttd(series: dict[str, Any], *, fault_start: float, faulted: set[str], since: float | None = None) -> float | None:
    """Seconds from fault_start to the first step showing a faulted server not UP (None: never)."""
    begin = fault_start if since is None else since
    downs = [float(t) for s in (series.get("gateway_servers_up") or {}).get("series", [])
             if s["labels"].get("server") in faulted for t, v in s["points"] if float(t) >= begin and float(v) < 1]  # fmt: skip
    return max(0.0, min(downs) - fault_start) if downs else None


def cross_check(m: Measurements, series: dict[str, Any], *, fault_start: float, faulted: set[str],
                injecting_since: float | None, error_budget: float, p99_slo_ms: float, stable_for_s: float,
                scrape_interval_s: float, lag_s: float, step_s: float = 1.0) -> CrossCheck:  # fmt: skip
    """Both measurements side by side; flagged when either differs by more than Prometheus'
    own resolution: a scrape (a change is seen at the next one), a step (the query grid) and
    the log's resolution."""
    since = fault_start if injecting_since is None else min(injecting_since, fault_start)
    rto_p = prom_rto(series, fault_start=fault_start, error_budget=error_budget, p99_slo_ms=p99_slo_ms,
                     stable_for_s=stable_for_s, step_s=step_s, lag_s=lag_s, since=since)  # fmt: skip
    ttd_p = prom_ttd(series, fault_start=fault_start, faulted=faulted, since=injecting_since)
    rto_log = m.rto_s if m.rto_ended_s is None else m.rto_ended_s
    rto_d, ttd_d = _diff(rto_log, rto_p), _diff(m.ttd_s, ttd_p)
    limit = round(scrape_interval_s + step_s + m.resolution_s, 6)
    flagged = any(d is not None and (math.isinf(d) or abs(d) > limit) for d in (rto_d, ttd_d))
    note = "no Prometheus data to compare" if rto_p is None else (
        f"differs by more than {limit:g} s (a scrape, a step and the log's resolution)" if flagged else f"agrees within {limit:g} s")  # fmt: skip
    return CrossCheck(ttd_log_s=m.ttd_s, ttd_prom_s=ttd_p, ttd_diff_s=ttd_d, rto_log_s=m.rto_s, rto_log_ended_s=rto_log, rto_prom_s=rto_p,
                      rto_diff_s=rto_d, scrape_interval_s=scrape_interval_s, flagged=flagged, note=note)  # fmt: skip


def _diff(log: float | None, prom: float | None) -> float | None:
    """prom - log; None when either is missing, 0 when both never happened, inf when one did."""
    if log is None or prom is None:
        return None
    if math.isinf(log) and math.isinf(prom):
        return 0.0
    if math.isinf(log) or math.isinf(prom):
        return math.inf
    return prom - log
