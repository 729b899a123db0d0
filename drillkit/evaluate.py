"""From what a drill collected to its journal: a pure :func:`evaluate`, then a write.

:func:`gather` reads the run folder (timeline, request log) and joins what the runner kept
(:class:`RunRecord`); :func:`evaluate` measures and judges it into a :class:`Journal`
without touching disk, the clock or the live system; :func:`finish` writes it. The drill
run renders the report itself, from the written folder.

>>> journal = evaluate(plan, gather(run_dir, record, generated_at=time.time()))   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from drillkit.alerting.section import alerting_section
from drillkit.backup.section import restore_section
from drillkit.crosscheck import CrossCheck, cross_check
from drillkit.errors import SpecError
from drillkit.events import ActivityEnded, CanaryProbe, Event, FaultWindow, GatewayState, burst_end, fault_window, read_events
from drillkit.journal import Journal, write_journal
from drillkit.knee import RAMP, RampOutput, capacity_section
from drillkit.measure import Measurements, measure
from drillkit.observe.guards import Abort
from drillkit.observe.slo import SloResult, judge_slo
from drillkit.plan import DrillPlan
from drillkit.provenance import release_under_test
from drillkit.request_log import read_request_log
from drillkit.retries import gateway_retries
from drillkit.rollout.section import rollout_section
from drillkit.safepath import confined
from drillkit.scaling import scaling_section
from drillkit.spec.drill import JudgeLatency
from drillkit.spec.slo import SloCheck
from drillkit.verdict import alert_checks, exit_code, judge, knee_checks, restore_checks, rollout_checks, scaling_checks


@dataclass(frozen=True)
class RunRecord:
    """What the runner collected while the drill ran; the rest is read from the run folder."""

    chaos_journal: dict[str, Any]
    undone: list[dict[str, Any]]
    capacity: dict[str, Any] | None
    interrupted: bool
    evidence: dict[str, Any] | None = None  # Prometheus range data (drillkit.observe.evidence), or None
    abort: Abort | None = None  # the guard that tripped


@dataclass(frozen=True)
class Evidence:
    """Everything :func:`evaluate` judges: the run folder's files and the runner's record."""

    events: list[Event]
    log: pd.DataFrame
    record: RunRecord
    generated_at: float
    versions: dict[str, str] = field(default_factory=dict)
    release: dict[str, str | None] = field(default_factory=dict)
    ramps: list[tuple[RampOutput, pd.DataFrame]] = field(default_factory=list)  # capacity ramps and their request logs


def gather(run_dir: Path, record: RunRecord, *, generated_at: float) -> Evidence:
    """Read the run folder's timeline and request logs, and the versions and release under test."""
    events = read_events(run_dir / "timeline.jsonl")
    return Evidence(events, read_request_log(run_dir / "request_log"), record, generated_at, _versions(), release_under_test(),
                    ramps=read_ramps(run_dir, events))  # fmt: skip


def read_ramps(run_dir: Path, events: list[Event]) -> list[tuple[RampOutput, pd.DataFrame]]:
    """Each capacity ramp's plan (from its activity's output) and request log (inside the run folder only)."""
    out = []
    for e in events:
        if isinstance(e, ActivityEnded) and e.func == RAMP and isinstance(e.output, dict):
            try:
                ramp = RampOutput.model_validate(e.output)
                folder = confined(run_dir, ramp.log)
            except (ValidationError, ValueError) as exc:
                raise SpecError(str(run_dir / "timeline.jsonl"), f"activity {e.name}", f"not a capacity ramp's output ({exc})",
                                "re-run the drill") from None  # fmt: skip
            out.append((ramp, read_request_log(folder)))
    return out


def finish(plan: DrillPlan, run_dir: Path, record: RunRecord, *, generated_at: float) -> Journal:
    """Evaluate the drill and write ``journal.json``; return the journal."""
    journal = evaluate(plan, gather(run_dir, record, generated_at=generated_at))
    write_journal(run_dir, journal)
    return journal


def evaluate(plan: DrillPlan, evidence: Evidence) -> Journal:
    """Measure and judge one drill (a pure function of the plan and the evidence)."""
    events, record = evidence.events, evidence.record
    window = fault_window(events)
    measured = _measure(plan, evidence.log, events, window)
    slos = _slos(plan, record.evidence, measured, window.start, burst_end(events))
    canaries = [e for e in events if isinstance(e, CanaryProbe)]
    errors = [f"{u['undo']} {u['args']}: {u['error']}" for u in record.undone if u.get("error")]
    restore = restore_section(events)
    rollout = rollout_section(events)
    scaling = scaling_section(events, evidence.log)
    slo = plan.spec.slo
    curves = capacity_section(evidence.ramps, p99_ms=slo.p99_ms, error_budget=slo.error_budget)
    checks = judge(plan.spec, measured, canaries, errors, record.capacity, slos=slos, abort=record.abort)
    checks += restore_checks(plan.spec, restore) + rollout_checks(plan.spec, rollout) + scaling_checks(plan.spec, scaling)
    checks += knee_checks(plan.spec, curves)
    alerting = alerting_section(events, fault_start=window.start, receiver=_receiver(plan))
    checks += alert_checks(plan.spec, alerting, fault_start=window.start)
    prom = record.evidence or {}
    return Journal(
        drill=plan.spec.model_dump(mode="json"), environment=plan.environment.model_dump(mode="json"),
        versions=evidence.versions, release=evidence.release or None, generated_at=evidence.generated_at,
        interrupted=record.interrupted, fault_start=window.start, injecting_since=window.injecting_since,
        rollback_end=window.rollback_end, faulted=window.nodes, capacity=record.capacity, measurements=measured,
        gateway=gateway_retries(events, budget_percent=plan.environment.gateway.retry_budget_percent),
        checks=checks, exit_code=int(exit_code(checks, interrupted=record.interrupted)), slos=slos,
        cross_check=_cross_check(plan, measured, prom, window), abort=record.abort, restore=restore, rollout=rollout, scaling=scaling, capacity_curve=curves, alerting=alerting,
        prometheus={k: prom[k] for k in ("url", "start", "end", "step_s", "series_window_s")} if "url" in prom else None,
        series=prom.get("series"), undone=record.undone, timeline=events, chaos_journal=record.chaos_journal,
    )  # fmt: skip


def _receiver(plan: DrillPlan) -> bool:
    """Whether drillkit's receiver heard the notifications (the embedded one, or one the user routes to)."""
    a = plan.environment.alerting
    return a is not None and (plan.environment.alerting_embedded or a.receiver.listen is not None)


def _measure(plan: DrillPlan, log: pd.DataFrame, events: list[Event], window: FaultWindow) -> Measurements | None:
    if window.start is None or not len(log):
        return None
    slo = plan.spec.slo
    return measure(
        log, fault_start=window.start, rollback_end=window.rollback_end, faulted=set(window.nodes),
        injecting_since=window.injecting_since, gateway_changes=[e.model_dump() for e in events if isinstance(e, GatewayState)],
        primary=plan.environment.primary.name, window_s=slo.window_s, p99_slo_s=slo.p99_ms / 1e3,
        error_budget=slo.error_budget, stable_for_s=plan.spec.recovery.stable_for_s, judge_latency=slo.judge_latency,
    )  # fmt: skip


def _slos(plan: DrillPlan, evidence: dict[str, Any] | None, measured: Measurements | None,
          fault_start: float | None, burst_ended: float | None) -> list[SloResult]:  # fmt: skip
    """Every Prometheus SLO's verdict from the stored range data (NO_DATA without it); latency
    SLOs see only the points from recovery on (judged after recovery) or past the pre-check."""
    out = []
    for check in plan.spec.slos:
        since, judged, unmeasured = _since(plan, check, measured, fault_start, burst_ended)
        stored = (evidence or {}).get("slos", {}).get(check.name, {})
        error = "no Prometheus data was collected" if evidence is None else stored.get("error") or unmeasured
        out.append(judge_slo(check, stored.get("series"), error, since=since, judged=judged))
    return out


def _since(plan: DrillPlan, check: SloCheck, measured: Measurements | None, fault_start: float | None,
           burst_ended: float | None) -> tuple[float | None, str, str | None]:  # fmt: skip
    """Where a check's points are judged from (None: all), how the verdict says so, and, when
    nothing can be judged, why.

    After recovery, a latency SLO's first point is a rate window past recovery: the points
    before ``fault_start + rto_s + window_s`` still average requests from before it.
    Through the fault, its first point is a rate window past the capacity pre-check's burst
    (the runner settles that long before it injects): on a shared machine the burst's load
    slows the users' requests, and that is drillkit's doing, not the fault's. A window longer
    than the runner settles (``capacity.SETTLE_MAX_S``) is judged from the fault on, burst and all.
    """
    if check.kind != "latency":
        return None, "", None
    if plan.spec.slo.judge_latency is JudgeLatency.AFTER_RECOVERY:
        if measured is None or fault_start is None:
            return math.inf, "", "recovery was not measured (no fault was injected or no request was logged)"
        return fault_start + measured.rto_s + check.window_s, "from recovery on", None
    if burst_ended is None:
        return None, "", None
    since = burst_ended + check.window_s
    return (since if fault_start is None else min(since, fault_start)), "past the capacity pre-check", None


def _cross_check(plan: DrillPlan, measured: Measurements | None, evidence: dict[str, Any], window: FaultWindow) -> CrossCheck | None:
    if not plan.spec.cross_check or measured is None or window.start is None or not evidence.get("series"):
        return None
    return cross_check(
        measured, evidence["series"], fault_start=window.start, faulted=set(window.nodes),
        injecting_since=window.injecting_since, error_budget=plan.spec.slo.error_budget, p99_slo_ms=plan.spec.slo.p99_ms,
        stable_for_s=plan.spec.recovery.stable_for_s, scrape_interval_s=plan.environment.prometheus.scrape_interval_s,
        lag_s=float(evidence["series_window_s"]), step_s=float(evidence["step_s"]),
    )  # fmt: skip


def _versions() -> dict[str, str]:
    names = ("drillkit", "chaostoolkit-lib", "locust", "nvidia-pytriton", "tritonclient", "torch")
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out
