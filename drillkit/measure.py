"""What users felt: pure functions from the request log and the drill timeline.

Definitions (DESIGN.md, "Measurements"):

- window: ``window_s`` of *scheduled* time; good when its success ratio >= 1 - error_budget
  and its p99 latency <= the SLO; a window with no requests is neither;
- fault_start: the end of the injecting action in the timeline;
- TTD: the first gateway change that marks a faulted backend down, minus fault_start;
- RTO: the start of the first good window after which every window stays good for
  ``stable_for_s``, minus fault_start (0 when no window went bad; inf when never recovered).
  The windows slide in steps of ``RESOLUTION_S`` (100 ms), so RTO is as fine as that, not as
  coarse as the window: a 6.5 s outage reads 6.5 s, not 7;
- outage: per request, from the first bad request (failed, or slower than the SLO) at or
  after fault_start to the last one (plus the gap to the next request): the request-level
  resolution the ground-truth test holds to 100 ms;
- failback: from the end of the rollback until a window is served >= 95% by the primary
  region (the environment's, whatever it is called), at the same resolution;
- RTO as counters see it (``rto_ended_s``): the same rule with each request placed at the
  time it *ended*. Prometheus counts a request when it completes, so a request sent at 0.2 s
  that timed out at 2.2 s is an error at 2.2 s there; the cross-check compares like with like;
- judged latency (``worst_p99_judged_s``): the worst p99 of a window over the span the p99
  objective is judged on (``slo.judge_latency``): every window of the drill (through_fault),
  or the windows from recovery (``fault_start + rto_s``) on, aligned to it (after_recovery).

>>> windows(log, window_s=1.0, p99_slo_s=0.25, error_budget=0.01)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from drillkit.spec.drill import JudgeLatency
from drillkit.units import Record, Seconds

FAILBACK_SHARE = 0.95
RESOLUTION_S = 0.1  # the step of the sliding windows RTO and failback are read from
SHED = "shed"  # the error class of a request the gateway shed (its 503 carries X-Drillkit-Shed)


@dataclass(frozen=True)
class Window:
    start: float
    requests: int
    failed: int
    p99_s: float
    primary_share: float  # share of ok requests served by the primary region
    good: bool


class Measurements(Record):
    """The numbers a drill is judged by (seconds; ``inf``, written "never", means never)."""

    requests: int = Field(ge=0)
    failed_requests: int = Field(ge=0, description="requests that got no answer, but those the gateway shed")
    shed_requests: int = Field(0, ge=0, description="requests the gateway shed at once past its queue (a marked 503)")
    failed_during_incident: int = Field(ge=0)
    ttd_s: Seconds | None = Field(description="time to detect; None: the gateway never marked a faulted node down")
    rto_s: Seconds
    outage_s: float = Field(ge=0)
    worst_p99_s: float = Field(ge=0)
    error_budget_consumed: float = Field(ge=0)
    failback_s: Seconds | None = Field(description="None: nothing was rolled back")
    window_s: float = Field(1.0, gt=0, description="the length of a judged window")
    resolution_s: float = Field(1.0, gt=0, description="the step RTO and failback were read at (old journals: the window)")
    rto_ended_s: Seconds | None = Field(None, description="RTO with each request placed when it ended, as Prometheus "
                                        "counters see it: what the cross-check compares (None: old journals)")
    judge_latency: JudgeLatency | None = Field(None, description="the span the p99 objective was judged on "
                                               "(slo.judge_latency; None: old journals, which did not judge it)")
    latency_judged_from: float | None = Field(None, description="unix time from which the p99 objective was judged: "
                                              "the first window (through_fault) or recovery (after_recovery); "
                                              "None: never recovered, or old journals")
    worst_p99_judged_s: float | None = Field(None, ge=0, description="the worst window p99 over the judged span "
                                             "(0: no window in it; None: old journals)")


def windows(log: pd.DataFrame, *, window_s: float, p99_slo_s: float, error_budget: float, primary: str,
            origin: float | None = None) -> list[Window]:  # fmt: skip
    """Split the log into windows of scheduled time (aligned to ``origin``) and judge each."""
    if log.empty:
        return []
    origin = float(log["scheduled_at"].min()) if origin is None else origin
    index = np.floor((log["scheduled_at"].to_numpy() - origin) / window_s).astype(np.int64)
    out = []
    for i, group in log.groupby(index, sort=True):
        ok = group["outcome"] == "ok"
        p99 = float(group["latency_s"].quantile(0.99))
        served = group.loc[ok, "region"]
        share = float((served == primary).mean()) if len(served) else 0.0
        good = bool(ok.mean() >= 1 - error_budget and p99 <= p99_slo_s)
        out.append(Window(origin + int(i) * window_s, len(group), int((~ok).sum()), p99, share, good))
    return out


def sliding(log: pd.DataFrame, *, window_s: float, step_s: float, p99_slo_s: float, error_budget: float, primary: str,
            origin: float) -> list[Window]:  # fmt: skip
    """Windows of ``window_s`` starting every ``step_s`` (aligned to ``origin``), each judged;
    a window with no requests is left out. Tumbling windows are ``step_s == window_s``."""
    if log.empty:
        return []
    order = np.argsort(log["scheduled_at"].to_numpy(), kind="stable")
    times = log["scheduled_at"].to_numpy()[order]
    latency = log["latency_s"].to_numpy()[order]
    ok = (log["outcome"].to_numpy() == "ok")[order]
    ok_sum = np.concatenate([[0], np.cumsum(ok)])
    primary_sum = np.concatenate([[0], np.cumsum(ok & (log["region"].to_numpy()[order] == primary))])
    first = math.floor((times[0] - origin) / step_s) - math.ceil(window_s / step_s) + 1
    starts = origin + np.arange(first, math.floor((times[-1] - origin) / step_s) + 1) * step_s
    lo, hi = np.searchsorted(times, starts, "left"), np.searchsorted(times, starts + window_s, "left")
    out = []
    for start, a, b in zip(starts, lo, hi, strict=True):
        if b > a:
            n, good_n = int(b - a), int(ok_sum[b] - ok_sum[a])
            p99 = float(np.quantile(latency[a:b], 0.99))
            share = (primary_sum[b] - primary_sum[a]) / good_n if good_n else 0.0
            out.append(Window(float(start), n, n - good_n, p99, float(share), good_n / n >= 1 - error_budget and p99 <= p99_slo_s))
    return out


def rto(ws: list[Window], fault_start: float, *, stable_for_s: float, window_s: float, step_s: float | None = None,
        since: float | None = None) -> float:  # fmt: skip
    """Recovery time after ``fault_start`` (0: never hurt; inf: never recovered), judging the
    windows (of ``window_s``, one every ``step_s``) from ``since`` (the start of the
    injection; default fault_start) on."""
    begin = fault_start if since is None else since
    after = [(w.start, w.good) for w in ws if w.start + window_s > begin]
    step = window_s if step_s is None else step_s
    return recovery(after, fault_start, stable_for_s=stable_for_s, step_s=step, window_s=window_s)


def recovery(steps: list[tuple[float, bool]], fault_start: float, *, stable_for_s: float, step_s: float,
             window_s: float | None = None) -> float:  # fmt: skip
    """RTO over judged steps ``(start, good)`` in time order: the start of the first good step
    after the first bad one from which ``stable_for_s`` stays good, minus fault_start.

    A step judges ``window_s`` (default ``step_s``) from its start, so the steps from ``i``
    that cover ``stable_for_s`` are those starting before ``start_i + stable_for_s - window_s``.
    """
    first_bad = next((i for i, (_, good) in enumerate(steps) if not good), None)
    if first_bad is None:
        return 0.0
    span = step_s if window_s is None else window_s
    need = max(1, math.ceil(round((stable_for_s - span) / step_s, 6)) + 1)
    for i in range(first_bad + 1, len(steps) - need + 1):
        if all(good for _, good in steps[i : i + need]):
            return max(0.0, steps[i][0] - fault_start)
    return math.inf


def outage(log: pd.DataFrame, fault_start: float, *, p99_slo_s: float) -> float:
    """Seconds from the first bad request at/after ``fault_start`` to just after the last one."""
    after = log[log["scheduled_at"] >= fault_start].sort_values("scheduled_at")
    bad = (after["outcome"] != "ok") | (after["latency_s"] > p99_slo_s)
    if not bad.any():
        return 0.0
    times = after["scheduled_at"].to_numpy()
    flags = bad.to_numpy()
    first, last = int(np.argmax(flags)), len(flags) - 1 - int(np.argmax(flags[::-1]))
    end = times[last + 1] if last + 1 < len(times) else times[last]
    return float(end - times[first])


def failback(ws: list[Window], rollback_end: float | None) -> float | None:
    """Seconds from the rollback's end until a window is served >= 95% by the primary (inf: never)."""
    if rollback_end is None:
        return None
    for w in ws:
        if w.start >= rollback_end and w.primary_share >= FAILBACK_SHARE:
            return w.start - rollback_end
    return math.inf


def ttd(gateway_changes: list[dict[str, object]], fault_start: float, faulted: set[str],
        injecting_since: float | None = None) -> float | None:  # fmt: skip
    """Seconds from fault_start to the gateway marking a faulted node down (None: never).

    A node can be marked down while a multi-node injection is still going on (the first of
    two nodes died while the second was being killed): that counts as detected at once (0).
    """
    since = fault_start if injecting_since is None else injecting_since
    for change in gateway_changes:
        at = float(change["at"])  # type: ignore[arg-type]
        if at >= since and change.get("node") in faulted and change.get("state") in ("DOWN", "MAINT"):
            return max(0.0, at - fault_start)
    return None


def measure(
    log: pd.DataFrame,
    *,
    fault_start: float,
    rollback_end: float | None,
    gateway_changes: list[dict[str, object]],
    injecting_since: float | None = None,
    faulted: set[str],
    primary: str,
    window_s: float,
    p99_slo_s: float,
    error_budget: float,
    stable_for_s: float,
    resolution_s: float = RESOLUTION_S,
    judge_latency: JudgeLatency = JudgeLatency.THROUGH_FAULT,
) -> Measurements:
    """Every measurement of one drill.

    The incident begins when the injecting action began (``injecting_since``): users hurt
    while a region's nodes are being killed one by one are hurt by the fault, even though
    fault_start, the origin of RTO and TTD, is the end of that action. ``primary`` is the
    environment's primary region, whose share of traffic failback waits for. ``judge_latency``
    picks the span ``worst_p99_judged_s`` is read over (:func:`judged_latency`).
    """
    since = fault_start if injecting_since is None else min(injecting_since, fault_start)
    judge = {"window_s": window_s, "p99_slo_s": p99_slo_s, "error_budget": error_budget, "primary": primary, "origin": fault_start}
    ws = windows(log, **judge)
    fine = sliding(log, step_s=min(resolution_s, window_s), **judge)
    step = min(resolution_s, window_s)
    recovery = rto(fine, fault_start, stable_for_s=stable_for_s, window_s=window_s, step_s=step, since=since)
    ended = log.assign(scheduled_at=log["sent_at"] + log["latency_s"])
    # Only windows that start at or after the injection: by end time the fault's harm arrives
    # late (a timeout), and a pre-fault blip must not pass for the incident it precedes.
    ended_ws = [w for w in sliding(ended, step_s=step, **judge) if w.start >= since]
    recovery_ended = rto(ended_ws, fault_start, stable_for_s=stable_for_s, window_s=window_s, step_s=step, since=since)
    incident_end = max(fault_start + recovery if math.isfinite(recovery) else math.inf, fault_start + window_s)
    incident = [w for w in ws if since < w.start + window_s and w.start < incident_end]
    shed = int((log["error_class"] == SHED).sum())
    failed = int((log["outcome"] != "ok").sum()) - shed
    in_incident = log[(log["scheduled_at"] >= since) & (log["scheduled_at"] < incident_end)]
    judged_from, worst_judged = judged_latency(log, ws, judge_latency, fault_start=fault_start, rto_s=recovery,
                                               judge=judge)
    return Measurements(
        requests=len(log),
        failed_requests=failed,
        shed_requests=shed,
        failed_during_incident=int((in_incident["outcome"] != "ok").sum()),
        ttd_s=ttd(gateway_changes, fault_start, faulted, injecting_since),
        rto_s=recovery,
        outage_s=outage(log, since, p99_slo_s=p99_slo_s),
        worst_p99_s=max((w.p99_s for w in incident), default=0.0),
        error_budget_consumed=(failed + shed) / (error_budget * len(log)) if len(log) and error_budget > 0 else 0.0,
        failback_s=failback(fine, rollback_end),
        window_s=window_s,
        resolution_s=step,
        rto_ended_s=recovery_ended,
        judge_latency=JudgeLatency(judge_latency),
        latency_judged_from=judged_from,
        worst_p99_judged_s=worst_judged,
    )


def judged_latency(log: pd.DataFrame, ws: list[Window], mode: JudgeLatency, *, fault_start: float, rto_s: float,
                   judge: dict[str, Any]) -> tuple[float | None, float]:  # fmt: skip
    """Where the p99 objective is judged from and the worst window p99 from there (0: no window).

    through_fault: every window of ``ws`` (the drill's, aligned to fault_start). after_recovery:
    windows aligned to the recovery instant (``fault_start + rto_s``), so no request before it
    shares a window with one after; never recovered -> ``(None, 0.0)``, judged as NO_DATA.
    ``judge`` is what :func:`windows` judges a window by.
    """
    if JudgeLatency(mode) is JudgeLatency.THROUGH_FAULT:
        return (ws[0].start if ws else None), max((w.p99_s for w in ws), default=0.0)
    if math.isinf(rto_s):
        return None, 0.0
    start = fault_start + rto_s
    after = windows(log[log["scheduled_at"] >= start], **{**judge, "origin": start})
    return start, max((w.p99_s for w in after), default=0.0)


def rpo(failure_at: float | None, backup_created_at: float | None) -> float | None:
    """Data lost, seconds: the failure time minus the time of the backup that restored (None: unknown)."""
    if failure_at is None or backup_created_at is None:
        return None
    return max(0.0, failure_at - backup_created_at)


def versions_lost(before: list[str], restored: list[str]) -> list[str]:
    """Model versions the region held before the failure that the restore did not bring back."""
    return sorted(set(before) - set(restored))


def restore_time(started_at: float, ended_at: float) -> float:
    """Seconds from the start of a restore to the region serving the verified model."""
    return ended_at - started_at
