"""The run journal (``journal.json``): the single source of truth of a drill.

It is written once, from the run folder (request log and timeline) and what the runner
collected; reports and gates read only it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from drillkit.measure import Measurements, measure
from drillkit.plan import DrillPlan
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


def finish_journal(plan: DrillPlan, run_dir: Path, *, chaos_journal: dict[str, Any], undone: list[dict[str, Any]],
                   capacity: dict[str, Any] | None, interrupted: bool) -> dict[str, Any]:  # fmt: skip
    """Measure, judge and write ``journal.json`` (and the PDF); return the journal."""
    events = read_timeline(run_dir / "timeline.jsonl")
    log = read_request_log(run_dir / "request_log")
    start, end, began = fault_window(events)
    slo = plan.spec.slo
    measured: Measurements | None = None
    if start is not None and len(log):
        measured = measure(
            log, fault_start=start, rollback_end=end, faulted=_faulted(events), injecting_since=began,
            gateway_changes=[e for e in events if e["event"] == "gateway_state"],
            window_s=slo.window_s, p99_slo_s=slo.p99_ms / 1e3, error_budget=slo.error_budget,
            stable_for_s=plan.spec.recovery.stable_for_s,
        )  # fmt: skip
    canaries = [e for e in events if e["event"] == "canary"]
    errors = [f"{u['undo']} {u['args']}: {u['error']}" for u in undone if u["error"]]
    checks = judge(plan.spec, measured, canaries, errors, capacity)
    journal = {
        "drill": plan.spec.model_dump(mode="json"),
        "environment": plan.environment.model_dump(mode="json"),
        "versions": _versions(),
        "generated_at": time.time(),
        "interrupted": interrupted,
        "fault_start": start,
        "rollback_end": end,
        "capacity": capacity,
        "measurements": _finite(asdict(measured)) if measured else None,
        "checks": [{"name": c.name, "verdict": c.verdict.value, "detail": c.detail} for c in checks],
        "exit_code": int(exit_code(checks, interrupted=interrupted)),
        "undone": undone,
        "timeline": events,
        "chaos_journal": chaos_journal,
    }
    (run_dir / "journal.json").write_text(json.dumps(journal, indent=1, default=str))
    from drillkit.report.pdf import render_pdf

    render_pdf(run_dir, generated_at=journal["generated_at"])
    return journal


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
