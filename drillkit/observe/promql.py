"""SLO and guard specs -> PromQL: pure functions, so every query is known before a drill runs.

The numbers users felt come from the load generator's client-side metrics (Triton exports no
latency histogram, and summaries do not aggregate across nodes):

- ``drillkit_client_requests_total{kind, outcome}``: every request, its outcome label set
  created at zero when the generator starts (so ``rate`` sees the first error);
- ``drillkit_client_request_seconds`` histogram ``{kind, region, outcome}``.

Gateway state comes from HAProxy's exporter, queue time and GPU figures from Triton's.

>>> from drillkit.spec.slo import ErrorRatioSlo
>>> slo_query(ErrorRatioSlo(name="errors", kind="error_ratio", max_ratio=0.01, window_s=10))
'(sum(rate(drillkit_client_requests_total{outcome="error"}[10s])) or vector(0)) / sum(rate(drillkit_client_requests_total[10s]))'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from drillkit.gateway import BACKEND
from drillkit.spec.slo import (
    AbortGuard,
    AvailabilitySlo,
    BackendsUpSlo,
    BurnRateSlo,
    Comparison,
    ErrorRatioSlo,
    GpuMemorySlo,
    GpuUtilizationSlo,
    GuardSignal,
    LatencySlo,
    PromqlSlo,
    QueueTimeSlo,
    SloCheck,
    TrafficShareSlo,
)

REQUESTS = "drillkit_client_requests_total"
LATENCY = "drillkit_client_request_seconds"
SERVER_STATUS = "haproxy_server_status"


@dataclass(frozen=True)
class Objective:
    """What a check evaluates: the query, and the bound its value must keep."""

    query: str
    comparison: Comparison
    threshold: float
    unit: str
    deciding_max: bool | None = None  # which step decides "worst"; default: the one furthest past the bound

    @property
    def pick_max(self) -> bool:
        return self.comparison.upper_bound if self.deciding_max is None else self.deciding_max


def _w(seconds: float) -> str:
    return f"{seconds:g}s"


def string(value: str) -> str:
    """A PromQL string literal (``us-east-1`` -> ``"us-east-1"``): backslash and quote escaped, and every
    control character written as an escape (``\\n``, ``\\xNN``, ``\\uNNNN``), so no value can end the literal, the
    selector or the line it sits in (label values come from specs and journals other people write)."""
    return '"' + _CONTROL.sub(_escape, value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def literal_regex(value: str) -> str:
    """An RE2 pattern matching exactly ``value``. ``-`` is special only inside a character class, so it stays."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", value)


def region_servers(region: str) -> str:
    """The regex (PromQL matchers are anchored) of a region's gateway servers: ``<region>-<i>`` on the
    local platform (one server per node), ``<region>`` on Kubernetes (one per region). No region is
    named ``<another region>-<number>`` (spec/names.py), so it matches no other region's server."""
    return f"{literal_regex(region)}(-[0-9]+)?"


def error_ratio(window_s: float) -> str:
    """Failed share of all requests over ``window_s`` (empty when there were none)."""
    w = _w(window_s)
    return f'(sum(rate({REQUESTS}{{outcome="error"}}[{w}])) or vector(0)) / sum(rate({REQUESTS}[{w}]))'


def availability(window_s: float) -> str:
    w = _w(window_s)
    return f'(sum(rate({REQUESTS}{{outcome="ok"}}[{w}])) or vector(0)) / sum(rate({REQUESTS}[{w}]))'


def latency_ms(quantile: float, window_s: float, request_kind: str = "all") -> str:
    """A latency quantile in ms from the client histogram's buckets."""
    selector = "" if request_kind == "all" else f"{{kind={string(request_kind)}}}"
    return f"1000 * histogram_quantile({quantile:g}, sum by (le) (rate({LATENCY}_bucket{selector}[{_w(window_s)}])))"


def traffic_share(region: str, window_s: float) -> str:
    """Share of successful requests served by ``region``."""
    w = _w(window_s)
    ok = f'{LATENCY}_count{{outcome="ok"'
    return f"(sum(rate({ok},region={string(region)}}}[{w}])) or vector(0)) / sum(rate({ok}}}[{w}]))"


def requests_by_region(window_s: float) -> str:
    return f'sum by (region) (rate({LATENCY}_count{{outcome="ok"}}[{_w(window_s)}]))'


def backends_up(region: str | None = None) -> str:
    """Gateway backends UP (HAProxy's exporter), all or one region's (see ``region_servers``)."""
    server = f",server=~{string(region_servers(region))}" if region else ""
    return f'sum({SERVER_STATUS}{{proxy="{BACKEND}",state="UP"{server}}})'


def servers_up() -> str:
    """1 or 0 per gateway server: the series the Prometheus TTD is read from."""
    return f'{SERVER_STATUS}{{proxy="{BACKEND}",state="UP"}}'


def backends_up_by_region(regions: Sequence[str] | None = None) -> str:
    """Gateway backends UP per region. Given the environment's ``regions``, each server is labelled
    with the region whose ``region_servers`` it matches (right on both platforms); without them the
    region is the server name less its ``-<index>``, which is right for the local platform only
    (a Kubernetes server is named after its region, and ``us-east-1`` would read as ``us-east``)."""
    if not regions:
        relabel = f'label_replace({servers_up()}, "region", "$1", "server", "(.+)-[0-9]+")'
        return f"sum by (region) ({relabel})"
    relabel = servers_up()
    for region in regions:
        relabel = f'label_replace({relabel}, "region", {string(region)}, "server", {string(region_servers(region))})'
    return f"sum by (region) ({relabel})"


def queue_time_ms(window_s: float, region: str | None = None) -> str:
    """Triton's mean queue time per successful request, ms."""
    sel = f"{{region={string(region)}}}" if region else ""
    w = _w(window_s)
    return f"sum(rate(nv_inference_queue_duration_us{sel}[{w}])) / sum(rate(nv_inference_request_success{sel}[{w}])) / 1000"


def burn_rate(objective: float, long_s: float, short_s: float, factor: float) -> str:
    """One pair's burn rate relative to its firing factor: > 1 means the alert fires.

    The alert fires when *both* windows burn faster than ``factor``, so the pair's value is
    the smaller of the two burn rates, divided by the factor.
    """
    budget = 1 - objective
    both = (f'label_replace({error_ratio(long_s)}, "window", "long", "", "") or '
            f'label_replace({error_ratio(short_s)}, "window", "short", "", "")')  # fmt: skip
    return f"min({both}) / {factor * budget:g}"


def _burn_rate_slo(check: BurnRateSlo) -> str:
    pairs = [burn_rate(check.objective, p.long_s, p.short_s, p.factor) for p in check.pairs]
    if len(pairs) == 1:
        return pairs[0]
    labelled = [f'label_replace({q}, "pair", "{i}", "", "")' for i, q in enumerate(pairs)]
    return f"max({' or '.join(labelled)})"


def objective(check: SloCheck) -> Objective:
    """The query and bound of any SLO kind."""
    le, ge = Comparison.LE, Comparison.GE
    match check:
        case LatencySlo():
            return Objective(latency_ms(check.quantile, check.window_s, check.request_kind), le, check.threshold_ms, "ms")
        case ErrorRatioSlo():
            return Objective(error_ratio(check.window_s), le, check.max_ratio, "ratio")
        case AvailabilitySlo():
            return Objective(availability(check.window_s), ge, check.min_ratio, "ratio")
        case TrafficShareSlo():
            bound = (ge, check.min_share) if check.min_share is not None else (le, check.max_share)
            return Objective(traffic_share(check.region, check.window_s), bound[0], float(bound[1] or 0.0), "ratio")
        case QueueTimeSlo():
            return Objective(queue_time_ms(check.window_s, check.region), le, check.threshold_ms, "ms")
        case GpuUtilizationSlo():
            return Objective("max(nv_gpu_utilization)", le, check.max_ratio, "ratio")
        case GpuMemorySlo():
            return Objective("max(nv_gpu_memory_used_bytes / nv_gpu_memory_total_bytes)", le, check.max_used_ratio, "ratio")
        case BackendsUpSlo():
            return Objective(backends_up(check.region), ge, float(check.min_up), "backends")
        case BurnRateSlo():
            # A detection test passes when the alert fired at any step: the highest step decides.
            return Objective(_burn_rate_slo(check), Comparison.GT if check.expect_fire else le, 1.0, "x firing rate", True)
        case PromqlSlo():
            return Objective(check.query, check.comparison, check.threshold, "")
    raise TypeError(f"unknown SLO kind: {check!r}")


def slo_query(check: SloCheck) -> str:
    """The exact PromQL behind a check's verdict."""
    return objective(check).query


def guard_query(guard: AbortGuard) -> str:
    """The PromQL a Prometheus guard evaluates every second."""
    match guard.signal:
        case GuardSignal.ERROR_RATIO:
            return error_ratio(guard.window_s)
        case GuardSignal.P99_MS:
            return latency_ms(0.99, guard.window_s)
        case GuardSignal.BACKENDS_UP:
            return backends_up()
        case GuardSignal.PROMQL:
            return guard.query or ""
    raise TypeError(f"unknown guard signal: {guard.signal!r}")


def journal_series(window_s: float, regions: Sequence[str] | None = None) -> dict[str, tuple[str, str]]:
    """Range series every drill journal keeps for its report: name -> (PromQL, unit).

    ``regions``: the environment's region names, for ``backends_up_by_region``."""
    return {
        "requests_per_s_by_region": (requests_by_region(window_s), "req/s"),
        "error_ratio": (error_ratio(window_s), "ratio"),
        "latency_p50_ms": (latency_ms(0.5, window_s), "ms"),
        "latency_p99_ms": (latency_ms(0.99, window_s), "ms"),
        "backends_up_by_region": (backends_up_by_region(regions), "backends"),
        "gateway_servers_up": (servers_up(), "up"),
        "triton_queue_ms": (queue_time_ms(window_s), "ms"),
        "gpu_utilization": ("nv_gpu_utilization", "ratio"),
        "gpu_memory_used_bytes": ("nv_gpu_memory_used_bytes", "bytes"),
        "gpu_power_watts": ("nv_gpu_power_usage", "W"),
    }
