"""The run journal (``journal.json``): the single source of truth of a drill.

It is written once, from the run folder (request log and timeline) and what the runner
collected; reports and gates read only it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from drillkit.backup.section import restore_checks, restore_section
from drillkit.crosscheck import cross_check
from drillkit.measure import Measurements, measure
from drillkit.observe.slo import SloResult, judge_slo
from drillkit.plan import DrillPlan
from drillkit.provenance import release_under_test
from drillkit.request_log import read_request_log
from drillkit.timeline import read_lines
from drillkit.verdict import exit_code, judge


def read_timeline(path: Path) -> list[dict[str, Any]]:
    """Timeline events in time order."""
    return sorted(read_lines(path), key=lambda e: e["at"])


def fault_window(events: list[dict[str, Any]]) -> tuple[float | None, float | None, float | None]:
    """(end of the first injection, end of the rollback, start of that injecting activity)."""
    ended = [e for e in events if e["event"] == "activity_ended" and isinstance(e.get("output"), dict)
             and "injected_at" in e["output"]]  # fmt: skip
    if not ended:
        return None, next((e["at"] for e in events if e["event"] == "rollback_ended"), None), None
    first = ended[0]
    began = next((e["at"] for e in events if e["event"] == "activity_started" and e.get("name") == first.get("name")), None)
    end = next((e["at"] for e in events if e["event"] == "rollback_ended"), None)
    return float(first["output"]["injected_at"]), end, began


@dataclass(frozen=True)
class RunRecord:
    """What the runner collected while the drill ran; the rest is read from the run folder."""

    chaos_journal: dict[str, Any]
    undone: list[dict[str, Any]]
    capacity: dict[str, Any] | None
    interrupted: bool
    evidence: dict[str, Any] | None = None  # Prometheus range data (drillkit.observe.evidence), or None
    abort: dict[str, Any] | None = None  # the guard that tripped (drillkit.observe.guards.Trip)


def finish_journal(plan: DrillPlan, run_dir: Path, record: RunRecord) -> dict[str, Any]:
    """Measure, judge and write ``journal.json`` (and the PDF); return the journal."""
    events = read_timeline(run_dir / "timeline.jsonl")
    log = read_request_log(run_dir / "request_log")
    start, end, began = fault_window(events)
    measured = _measure(plan, log, events, start, end, began)
    slos = _slos(plan, record.evidence)
    canaries = [e for e in events if e["event"] == "canary"]
    errors = [f"{u['undo']} {u['args']}: {u['error']}" for u in record.undone if u["error"]]
    restore = restore_section(events)  # restore drills (issue 6): RPO, restore time, versions lost
    checks = judge(plan.spec, measured, canaries, errors, record.capacity, slos=slos, abort=record.abort)
    checks += restore_checks(plan.spec, restore)
    evidence = record.evidence or {}
    journal = {
        "drill": plan.spec.model_dump(mode="json"),
        "environment": plan.environment.model_dump(mode="json"),
        "versions": _versions(),
        "release": release_under_test(),
        "generated_at": time.time(),
        "interrupted": record.interrupted,
        "fault_start": start,
        "rollback_end": end,
        "capacity": record.capacity,
        "measurements": _finite(asdict(measured)) if measured else None,
        "checks": [c.as_dict() for c in checks],
        "exit_code": int(exit_code(checks, interrupted=record.interrupted)),
        "slos": [s.as_dict() for s in slos],
        "cross_check": _cross_check(plan, measured, evidence, events, start, began),
        "abort": record.abort,
        "restore": restore,
        "prometheus": {k: evidence[k] for k in ("url", "start", "end", "step_s", "series_window_s") if k in evidence} or None,
        "series": evidence.get("series"),
        "undone": record.undone,
        "timeline": events,
        "chaos_journal": record.chaos_journal,
    }
    (run_dir / "journal.json").write_text(json.dumps(journal, indent=1, default=str))
    from drillkit.report.pdf import render_report

    render_report(run_dir, generated_at=journal["generated_at"])
    return journal


def _measure(plan: DrillPlan, log: Any, events: list[dict[str, Any]], start: float | None, end: float | None,
             began: float | None) -> Measurements | None:  # fmt: skip
    if start is None or not len(log):
        return None
    slo = plan.spec.slo
    return measure(
        log, fault_start=start, rollback_end=end, faulted=_faulted(events), injecting_since=began,
        gateway_changes=[e for e in events if e["event"] == "gateway_state"],
        window_s=slo.window_s, p99_slo_s=slo.p99_ms / 1e3, error_budget=slo.error_budget,
        stable_for_s=plan.spec.recovery.stable_for_s,
    )  # fmt: skip


def _slos(plan: DrillPlan, evidence: dict[str, Any] | None) -> list[SloResult]:
    """Every Prometheus SLO's verdict from the stored range data (NO_DATA without it)."""
    if evidence is None:
        return [judge_slo(c, None, error="no Prometheus data was collected") for c in plan.spec.slos]
    stored = evidence.get("slos", {})
    return [judge_slo(c, stored.get(c.name, {}).get("series"), stored.get(c.name, {}).get("error")) for c in plan.spec.slos]


def _cross_check(plan: DrillPlan, measured: Measurements | None, evidence: dict[str, Any], events: list[dict[str, Any]],
                 start: float | None, began: float | None) -> dict[str, Any] | None:  # fmt: skip
    if not plan.spec.cross_check or measured is None or start is None or not evidence.get("series"):
        return None
    scrape = plan.environment.prometheus.scrape_interval_s
    result = cross_check(measured, evidence["series"], fault_start=start, faulted=_faulted(events), injecting_since=began,
                         error_budget=plan.spec.slo.error_budget, p99_slo_ms=plan.spec.slo.p99_ms,
                         stable_for_s=plan.spec.recovery.stable_for_s, scrape_interval_s=scrape,
                         lag_s=float(evidence["series_window_s"]), step_s=float(evidence["step_s"]))  # fmt: skip
    return result.as_dict()


def _faulted(events: list[dict[str, Any]]) -> set[str]:
    nodes: set[str] = set()
    for e in events:
        output = e.get("output") if e["event"] == "activity_ended" else None
        if isinstance(output, dict):
            for key in ("crashed", "hung", "nodes"):
                nodes.update(output.get(key, []))
    return nodes


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: a value that never happened is written as null with a flag."""
    out = {}
    for key, value in values.items():
        if isinstance(value, float) and math.isinf(value):
            out[key], out[f"{key}_never"] = None, True
        else:
            out[key] = value
    return out


def _versions() -> dict[str, str]:
    names = ("drillkit", "chaostoolkit-lib", "locust", "nvidia-pytriton", "tritonclient", "torch")
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out
