"""The capacity pre-check: may the standby take the primary's load before we break it?

Three conditions, each measured on the standby itself, none estimated:
- every standby node is ready and UP at the gateway;
- every standby node answers the golden probes like the primary (the same model version);
- headroom: a short, bounded burst of real inference requests (the golden probes), sent
  straight to the standby nodes' endpoints (outside the gateway), completes at least
  ``HEADROOM`` x the warm-up's request rate, without an error or a wrong answer.

The burst runs while the warm-up load goes on through the gateway; where the standby already
serves part of it (active-active), the burst measures what it can serve on top: conservative.

The burst replaced an estimate from the primary's Triton counters over the warm-up (time per
request, which counts queueing and CPU contention as cost): on a busy 2-core machine that
estimate put a standby serving several hundred requests/s at 104 and refused a drill.

>>> report = check(platform.status(), ["standby"], golden, warmup_rps=86.0)  # doctest: +SKIP
>>> report.ok, report.achieved_rps >= report.required_rps                       # doctest: +SKIP
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from drillkit.burst import DEFAULT_LIMITS, Burst, BurstLimits, run_burst
from drillkit.model.client import InferenceClient
from drillkit.observe.client import PromClient, PrometheusError
from drillkit.observe.promql import literal_regex, string
from drillkit.platforms.base import ComponentStatus, EnvironmentStatus, Health
from drillkit.smoke import ProbeResult, send_probe
from drillkit.try_timeout import TryTimeouts, warmup_warnings
from drillkit.workload.golden import GoldenSet

HEADROOM = 1.25
# The longest the runner waits after the burst before it injects (see :func:`settle_s`).
SETTLE_MAX_S = 30.0


class Capacity(BaseModel):
    """The pre-check's decision and every number behind it (the journal's ``capacity``).

    The burst fields are None when the burst did not run: a standby node was not ready, or
    failed the golden probes, and the decision needed no throughput.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    reason: str
    standby_ready: int
    standby_nodes: int
    same_model: bool
    warmup_rps: float
    required_rps: float
    probe_latency_ms: float | None = None  # the slowest golden probe: what the concurrency is sized from
    concurrency: int | None = None
    burst_planned: int | None = None  # the count bound
    burst_limit_s: float | None = None  # the time bound
    burst_requests: int | None = None  # answered or failed before the burst ended
    burst_ok: int | None = None
    burst_errors: int | None = None
    burst_wrong: int | None = None  # answered, but not the golden answer
    burst_first_error: str | None = None
    burst_elapsed_s: float | None = None
    achieved_rps: float | None = None
    burst_p50_ms: float | None = None
    burst_p99_ms: float | None = None
    # The gateway's per-try timeout of each model against its warm-up p99.9: a timeout below it
    # retries the slowest healthy requests (and marks their node down). A warning, not a refusal.
    try_timeouts: TryTimeouts | None = None
    warmup_p999_ms: dict[str, float] = {}
    warnings: list[str] = []
    # The standby's knee as the latest capacity drill measured it (its history): a measured
    # limit, older than the burst, which a burst of a second cannot find.
    standby_knee_rps: float | None = None
    standby_knee_age_s: float | None = None
    standby_knee_nodes: int | None = None
    standby_knee_limited_by: str | None = None
    # Attach mode: no endpoint of the user's pods is reachable, so the standby is judged from the
    # user's own Triton metrics: the busiest pod's peak rate times the standby's ready pods.
    estimate_query: str | None = None
    per_pod_peak_rps: float | None = None
    estimated_rps: float | None = None

    def as_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def check(
    status: EnvironmentStatus,
    standby: list[str],
    golden: GoldenSet,
    warmup_rps: float,
    *,
    try_timeouts: TryTimeouts | None = None,
    warmup_p999_ms: dict[str, float] | None = None,
    limits: BurstLimits = DEFAULT_LIMITS,
    knee: StandbyKnee | None = None,
) -> Capacity:
    """Judge whether the ``standby`` regions can serve ``HEADROOM`` x ``warmup_rps``; warn about
    per-try timeouts below the warm-up's p99.9 of their model. With the standby's measured
    ``knee`` (taken with as many nodes as it has now), a knee below the required rate refuses
    too: the burst is short, the knee is where latency leaves the SLO under sustained load."""
    nodes = [n for n in status.nodes() if n.region in standby]
    ready = [n for n in nodes if n.health is Health.READY and n.gateway_state == "UP"]
    p999 = {m: round(v, 2) for m, v in (warmup_p999_ms or {}).items()}
    report = Capacity(
        ok=False,
        reason="",
        standby_ready=len(ready),
        standby_nodes=len(nodes),
        same_model=False,
        warmup_rps=round(warmup_rps, 2),
        required_rps=round(HEADROOM * warmup_rps, 2),
        try_timeouts=try_timeouts,
        warmup_p999_ms=p999,
        warnings=warmup_warnings(try_timeouts.models if try_timeouts else {}, p999),
    )
    if knee is not None:
        report = _with(report, standby_knee_rps=knee.knee_rps, standby_knee_age_s=round(knee.age_s, 1),
                       standby_knee_nodes=knee.nodes, standby_knee_limited_by=knee.limited_by)  # fmt: skip
    if len(ready) < len(nodes) or not ready:
        return _refused(report, f"only {len(ready)} of {len(nodes)} standby nodes are ready and UP at the gateway")
    if knee is not None and knee.nodes == len(nodes) and knee.limited_by == "slo" and knee.knee_rps < report.required_rps:
        return _refused(report, f"the standby's measured knee is {knee.knee_rps:g} req/s with {len(nodes)} nodes "
                                f"({_age(knee.age_s)} ago), below the {report.required_rps:.0f} req/s required")  # fmt: skip
    if not golden.probes:
        return _refused(report, f"model version {golden.version} has no golden probes to measure the standby with")
    probes = {n.name: _golden_probes(n, golden, limits.limit_s) for n in ready}
    report = _with(report, probe_latency_ms=round(max(r.latency_ms for rs in probes.values() for r in rs), 2))
    failed = [(node, r) for node, rs in probes.items() for r in rs if not r.ok]
    if failed:
        return _refused(report, _probe_reason(*failed[0]))
    burst = run_burst(
        [n.endpoint or "" for n in ready],
        golden,
        rps=report.required_rps,
        latency_s=(report.probe_latency_ms or 0.0) / 1e3,
        limits=limits,
    )
    reason = _burst_reason(burst, report)
    shown = (
        f"the standby served {burst.achieved_rps:.0f} req/s in a {burst.elapsed_s:.1f} s burst, at least the "
        f"{report.required_rps:.0f} req/s required ({HEADROOM:g} x the {warmup_rps:.0f} req/s of warm-up)"
    )
    passed = {"ok": reason == "", "reason": reason or shown, "same_model": burst.wrong == 0}
    return _with(report, **passed, **_burst_fields(burst, limits))


TELEMETRY_LOOKBACK = "1h"


def peak_query(pods: list[str], lookback: str = TELEMETRY_LOOKBACK) -> str:
    """The busiest of ``pods``' peak rate of successful inferences over ``lookback`` (Triton's
    ``nv_inference_request_success``, by the ``pod`` label Kubernetes scraping gives it)."""
    names = string("|".join(literal_regex(p) for p in pods))
    return f"max(max_over_time((sum by (pod) (rate(nv_inference_request_success{{pod=~{names}}}[1m])))[{lookback}:30s]))"


def from_telemetry(prom: PromClient | None, pods: dict[str, list[str]], standby: list[str], ready_standby: int,
                   warmup_rps: float, *, same_model: bool) -> Capacity:  # fmt: skip
    """The pre-check from the user's own telemetry (attach mode): the standby's ready pods, each
    worth the peak rate the busiest pod of the deployment has served, against the warm-up's rate
    with headroom. Refused without data: an estimate of nothing is not a capacity."""
    standby_pods = [x for r in standby for x in pods.get(r, [])]
    report = Capacity(ok=False, reason="", standby_ready=ready_standby, standby_nodes=len(standby_pods), same_model=same_model,
                      warmup_rps=round(warmup_rps, 2), required_rps=round(HEADROOM * warmup_rps, 2))  # fmt: skip
    if not standby_pods or ready_standby < len(standby_pods):
        return _refused(report, f"only {ready_standby} of {len(standby_pods)} standby pods are ready")
    if not same_model:
        return _refused(report, "the pods do not all serve the same model version (their version label differs)")
    query = peak_query([x for names in pods.values() for x in names])
    report = _with(report, estimate_query=query)
    if prom is None:
        return _refused(report, "no Prometheus to read the pods' Triton metrics from: set prometheus.url")
    try:
        found = [v for s in prom.instant(query) for _, v in s.points]
    except PrometheusError as exc:
        return _refused(report, f"the pods' Triton metrics could not be read: {exc}")
    if not found or found[0] <= 0:
        return _refused(report, "Prometheus has no nv_inference_request_success for the selected pods in the last "
                                f"{TELEMETRY_LOOKBACK}: scrape Triton's metrics port with a pod label")  # fmt: skip
    estimate = found[0] * ready_standby
    report = _with(report, per_pod_peak_rps=round(found[0], 2), estimated_rps=round(estimate, 2))
    shown = (f"the standby's {ready_standby} ready pods can serve about {estimate:.0f} req/s ({found[0]:.0f} req/s each, the "
             f"busiest pod's peak in {TELEMETRY_LOOKBACK}), at least the {report.required_rps:.0f} req/s required")  # fmt: skip
    if estimate < report.required_rps:
        return _refused(report, f"the standby's {ready_standby} ready pods can serve about {estimate:.0f} req/s "
                                f"({found[0]:.0f} each at their peak), below the {report.required_rps:.0f} req/s required")  # fmt: skip
    return _with(report, ok=True, reason=shown)


@dataclass(frozen=True)
class StandbyKnee:
    """The standby region's latest measured knee (``drillkit.report.history.Knee``) and its age."""

    knee_rps: float
    age_s: float
    nodes: int | None
    limited_by: str


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def settle_s(report: Capacity, latency_windows_s: list[float]) -> float:
    """How long to let the load run on after the burst before injecting: the longest latency
    SLO's rate window (at most ``SETTLE_MAX_S``), so that the points judged through the fault
    average no request the burst slowed. On a shared machine (the embedded environment) the
    burst's inference takes the CPU the primaries need; a CI run's region outage failed its
    p99 SLO on requests sent half a second before the fault, during the burst."""
    if report.burst_elapsed_s is None or not latency_windows_s:
        return 0.0
    return min(max(latency_windows_s), SETTLE_MAX_S)


def _refused(report: Capacity, reason: str) -> Capacity:
    return _with(report, reason=reason)


def _with(report: Capacity, **changes: object) -> Capacity:
    """``report`` with ``changes``, validated (``model_copy`` would take a misspelt field silently)."""
    return Capacity.model_validate({**report.model_dump(), **changes})


def _golden_probes(node: ComponentStatus, golden: GoldenSet, timeout_s: float) -> list[ProbeResult]:
    """The first golden probe of each model, sent to the node itself (outside the gateway)."""
    client = InferenceClient(node.endpoint or "", timeout_s=timeout_s)
    try:
        return [send_probe(client, golden, p) for p in golden.first_of_each()]
    finally:
        client.close()


def _probe_reason(node: str, failed: ProbeResult) -> str:
    if failed.error is not None:
        return f"standby node {node} fails the golden {failed.model} probe: {failed.error}"
    return f"standby node {node} answers the golden {failed.model} probe differently ({failed.wrong}): it serves another model version"


def _burst_reason(burst: Burst, report: Capacity) -> str:
    required = report.required_rps
    if burst.wrong:
        return (
            f"{burst.wrong} of {burst.completed} answers to the burst differ from the golden answers: "
            "a standby node serves another model version"
        )
    if burst.errors:
        return f"{burst.errors} of {burst.completed} burst requests to the standby failed (first: {burst.first_error})"
    if burst.achieved_rps >= required:
        return ""
    reason = (
        f"the standby served {burst.achieved_rps:.0f} req/s in a {burst.elapsed_s:.1f} s burst "
        f"({burst.ok} requests at concurrency {burst.concurrency}, p50 {_ms(burst.p50_ms)}), less than the "
        f"{required:.0f} req/s required ({HEADROOM:g} x the {report.warmup_rps:.0f} req/s of warm-up)"
    )
    # Closed loop, c workers at the unloaded latency L complete at most c / L per second. The
    # concurrency is sized to twice R x L, so this bound falls below R only where the cap bound
    # it: then the burst, not the standby, may have been the limit, and the reason says so.
    latency_s = (report.probe_latency_ms or 0.0) / 1e3
    if latency_s > 0 and burst.concurrency / latency_s < required:
        reason += (
            f"; at the golden probes' {latency_s * 1e3:.0f} ms, the burst's {burst.concurrency} concurrent "
            f"requests could reach at most {burst.concurrency / latency_s:.0f} req/s, its cap"
        )
    return reason


def _burst_fields(burst: Burst, limits: BurstLimits) -> dict[str, object]:
    return {
        "concurrency": burst.concurrency,
        "burst_planned": burst.planned,
        "burst_limit_s": limits.limit_s,
        "burst_requests": burst.completed,
        "burst_ok": burst.ok,
        "burst_errors": burst.errors,
        "burst_wrong": burst.wrong,
        "burst_first_error": burst.first_error,
        "burst_elapsed_s": round(burst.elapsed_s, 3),
        "achieved_rps": round(burst.achieved_rps, 1),
        "burst_p50_ms": burst.p50_ms,
        "burst_p99_ms": burst.p99_ms,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


__all__ = ["HEADROOM", "Capacity", "check"]
