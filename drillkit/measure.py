"""What users felt: pure functions from the request log and the drill timeline.

Definitions (DESIGN.md, "Measurements"):

- window: ``window_s`` of *scheduled* time; good when its success ratio >= 1 - error_budget
  and its p99 latency <= the SLO; a window with no requests is neither;
- fault_start: the end of the injecting action in the timeline;
- TTD: the first gateway change that marks a faulted backend down, minus fault_start;
- RTO: the start of the first good window after which every window stays good for
  ``stable_for_s``, minus fault_start (0 when no window went bad; inf when never recovered);
- outage: per request, from the first bad request (failed, or slower than the SLO) at or
  after fault_start to the last one (plus the gap to the next request): the request-level
  resolution the ground-truth test holds to 100 ms;
- failback: from the end of the rollback until the primary region serves >= 95% again.

>>> windows(log, window_s=1.0, p99_slo_s=0.25, error_budget=0.01)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

FAILBACK_SHARE = 0.95


@dataclass(frozen=True)
class Window:
    start: float
    requests: int
    failed: int
    p99_s: float
    primary_share: float  # share of ok requests served by the primary region
    good: bool


@dataclass(frozen=True)
class Measurements:
    """The numbers a drill is judged by (seconds; inf means never)."""

    requests: int
    failed_requests: int
    failed_during_incident: int
    ttd_s: float | None
    rto_s: float
    outage_s: float
    worst_p99_s: float
    error_budget_consumed: float
    failback_s: float | None


def windows(log: pd.DataFrame, *, window_s: float, p99_slo_s: float, error_budget: float, primary: str = "primary",
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


def rto(ws: list[Window], fault_start: float, *, stable_for_s: float, window_s: float, since: float | None = None) -> float:
    """Recovery time after ``fault_start`` (0: never hurt; inf: never recovered), judging the
    windows from ``since`` (the start of the injection; default fault_start) on."""
    begin = fault_start if since is None else since
    after = [(w.start, w.good) for w in ws if w.start + window_s > begin]
    return recovery(after, fault_start, stable_for_s=stable_for_s, step_s=window_s)


def recovery(steps: list[tuple[float, bool]], fault_start: float, *, stable_for_s: float, step_s: float) -> float:
    """RTO over judged steps ``(start, good)`` in time order: the start of the first good step
    after the first bad one from which ``stable_for_s`` of steps stay good, minus fault_start."""
    first_bad = next((i for i, (_, good) in enumerate(steps) if not good), None)
    if first_bad is None:
        return 0.0
    need = max(1, math.ceil(stable_for_s / step_s))
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
    """Seconds from the rollback's end until a window is served >= 95% by the primary."""
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
    window_s: float,
    p99_slo_s: float,
    error_budget: float,
    stable_for_s: float,
) -> Measurements:
    """Every measurement of one drill.

    The incident begins when the injecting action began (``injecting_since``): users hurt
    while a region's nodes are being killed one by one are hurt by the fault, even though
    fault_start, the origin of RTO and TTD, is the end of that action.
    """
    since = fault_start if injecting_since is None else min(injecting_since, fault_start)
    ws = windows(log, window_s=window_s, p99_slo_s=p99_slo_s, error_budget=error_budget, origin=fault_start)
    recovery = rto(ws, fault_start, stable_for_s=stable_for_s, window_s=window_s, since=since)
    incident_end = max(fault_start + recovery if math.isfinite(recovery) else math.inf, fault_start + window_s)
    incident = [w for w in ws if since < w.start + window_s and w.start < incident_end]
    failed = int((log["outcome"] != "ok").sum())
    in_incident = log[(log["scheduled_at"] >= since) & (log["scheduled_at"] < incident_end)]
    return Measurements(
        requests=len(log),
        failed_requests=failed,
        failed_during_incident=int((in_incident["outcome"] != "ok").sum()),
        ttd_s=ttd(gateway_changes, fault_start, faulted, injecting_since),
        rto_s=recovery,
        outage_s=outage(log, since, p99_slo_s=p99_slo_s),
        worst_p99_s=max((w.p99_s for w in incident), default=0.0),
        error_budget_consumed=failed / (error_budget * len(log)) if len(log) and error_budget > 0 else 0.0,
        failback_s=failback(ws, rollback_end),
    )


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
