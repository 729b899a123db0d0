"""A suite folder's outputs, pure functions of it: ``summary.json`` completed with each
drill's figures and the resilience score, ``junit.xml`` (one testcase per drill) and
``suite.pdf`` (a summary page, then every drill's own pages).

>>> render_suite_outputs(Path("reports/nightly-20260101-030000"))   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

from drillkit import verdict
from drillkit.errors import ExitCode, SpecError
from drillkit.report.cover import utc
from drillkit.report.junit import Case, write_junit
from drillkit.report.layout import SANS, VERDICT_COLORS, Column, Flow
from drillkit.report.pdf import drill_pages, write_pdf
from drillkit.report.run import RunFolder, load_run, seconds
from drillkit.report.score import DrillScore, resilience_score


class DrillStatus(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"  # the drill ran and a check did not pass
    ERROR = "ERROR"  # the environment failed on every attempt
    SKIPPED = "SKIPPED"  # not run (stop_on_failure, a failed rollback, an interrupt)


_STATUS_COLORS = {"PASSED": VERDICT_COLORS["PASS"], "FAILED": VERDICT_COLORS["FAIL"], "ERROR": VERDICT_COLORS["FAIL"],
                  "SKIPPED": VERDICT_COLORS["NO_DATA"]}  # fmt: skip


def suite_exit_code(outcomes: list[Any]) -> ExitCode:
    """The suite's exit code over every drill (decided in :func:`drillkit.verdict.suite_exit_code`)."""
    statuses = {o.status for o in outcomes}
    return verdict.suite_exit_code((int(o.exit_code) for o in outcomes if o.status is not DrillStatus.SKIPPED),
                                   failed=DrillStatus.FAILED in statuses, skipped=DrillStatus.SKIPPED in statuses,
                                   errored=DrillStatus.ERROR in statuses)  # fmt: skip


def read_summary(path: Path) -> dict[str, Any]:
    """A suite's ``summary.json``; a damaged one is a SpecError naming the file and the field."""
    fix = "re-run the suite, or restore the suite folder from a copy"
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), "-", f"cannot read the suite summary ({exc})", fix) from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), f"line {exc.lineno}", f"not valid JSON ({exc.msg})", fix) from None
    if not isinstance(data, dict) or not isinstance(data.get("suite"), str):
        raise SpecError(str(path), "suite", "not a suite summary (no suite name)", fix)
    drills = data.get("drills")
    if not isinstance(drills, list) or not all(isinstance(d, dict) and isinstance(d.get("name"), str) for d in drills):
        raise SpecError(str(path), "drills", "not a list of drill outcomes, each with a name", fix)
    for i, d in enumerate(drills):
        if d.get("status") not in set(DrillStatus) or not isinstance(d.get("exit_code"), int):
            raise SpecError(str(path), f"drills[{i}]", "needs a status (PASSED, FAILED, ERROR, SKIPPED) and an exit_code", fix)
        if d.get("run_dir") is not None and not isinstance(d["run_dir"], str):
            raise SpecError(str(path), f"drills[{i}].run_dir", "is not a folder name", fix)
    return data


def render_suite_outputs(folder: Path, *, generated_at: float | None = None) -> dict[str, Any]:
    """Complete ``summary.json`` and write ``junit.xml`` and ``suite.pdf``; return the summary."""
    summary = read_summary(folder / "summary.json")
    at = float(summary.get("ended_at") or 0.0) if generated_at is None else generated_at
    runs = [_run(folder, d) for d in summary["drills"]]
    for drill, run in zip(summary["drills"], runs, strict=True):
        drill.update(_figures(run))
    summary["score"] = resilience_score([_score(d) for d in summary["drills"]])
    summary["generated_at"] = at
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    write_junit(folder / "junit.xml", f"drillkit.{summary['suite']}", [_case(summary["suite"], d) for d in summary["drills"]],
                timestamp=summary.get("started_at"), properties={"score": str(summary["score"])})  # fmt: skip
    pages = _summary_pages(summary, at)
    for run in (r for r in runs if r is not None):
        pages += drill_pages(run, at)
    write_pdf(pages, folder / "suite.pdf", footer=f"drillkit suite {summary['suite']} - {utc(at)}", generated_at=at)
    return summary


def _run(folder: Path, drill: dict[str, Any]) -> RunFolder | None:
    path = folder / drill["run_dir"] if drill.get("run_dir") else None
    if path is None or not path.resolve().is_relative_to(folder.resolve()):
        return None  # a run folder outside the suite's is not this suite's
    return load_run(path) if (path / "journal.json").exists() else None


def _figures(run: RunFolder | None) -> dict[str, Any]:
    if run is None:
        return {"rto_s": None, "rto_budget_s": None, "failed_requests": None, "error_budget_consumed": None, "failed_checks": []}
    m = run.journal.measurements
    rto = m.rto_s if m else None
    return {"rto_s": None if rto is None or math.isinf(rto) else rto, "rto_never": rto is not None and math.isinf(rto),
            "rto_budget_s": run.journal.drill.recovery.rto_budget_s,
            "failed_requests": m.failed_requests if m else None, "error_budget_consumed": m.error_budget_consumed if m else None,
            "failed_checks": [f"{c.name} {c.verdict.value}: {c.detail}" for c in run.journal.checks if c.verdict != "PASS"]}  # fmt: skip


def _score(d: dict[str, Any]) -> DrillScore:
    rto = math.inf if d.get("rto_never") else d.get("rto_s")
    return DrillScore(d["status"] == DrillStatus.PASSED, rto, d.get("rto_budget_s"), d.get("error_budget_consumed"))


def _case(suite: str, d: dict[str, Any]) -> Case:
    status = d["status"]
    message = "; ".join(d.get("failed_checks") or []) or f"exit code {d['exit_code']}"
    return Case(
        classname=f"drillkit.{suite}", name=d["name"], time_s=float(d.get("duration_s") or 0.0),
        failure=message if status == DrillStatus.FAILED else None,
        error=(d.get("error") or "environment error") if status == DrillStatus.ERROR else None,
        skipped=d.get("error") if status == DrillStatus.SKIPPED else None,
        output=f"run folder: {d.get('run_dir')}\nattempts: {json.dumps(d.get('attempts'))}",
        properties={"run_dir": str(d.get("run_dir")), "exit_code": str(d["exit_code"])},
    )  # fmt: skip


def _summary_pages(summary: dict[str, Any], at: float) -> list[Any]:
    flow = Flow(title=f"drillkit suite report: {summary['suite']}")
    flow.heading(f"Suite {summary['suite']}: resilience score {summary['score']:.1f} / 100")
    flow.pages[-1].text(0.93, 0.955, f"{summary['score']:.0f}", ha="right", va="top", fontsize=28, weight="bold", family=SANS,
                        color="white", bbox={"facecolor": _score_color(summary["score"]), "edgecolor": "none", "pad": 6})  # fmt: skip
    passed = sum(d["status"] == DrillStatus.PASSED for d in summary["drills"])
    flow.paragraph(f"{passed} of {len(summary['drills'])} drills passed. {summary.get('description') or ''}\n"
                   f"started {utc(summary.get('started_at'))}, ended {utc(summary.get('ended_at'))}, report {utc(at)}\n"
                   f"suite file {summary.get('suite_file')}; settle {summary.get('settle_s')} s between drills")  # fmt: skip
    rows = [[d["name"], d["status"], _rto(d), str(d.get("failed_requests", "-")), _pct(d.get("error_budget_consumed")),
             str(len(d.get("attempts") or [])), str(d.get("run_dir") or "-")] for d in summary["drills"]]  # fmt: skip
    flow.table([Column("drill", 20), Column("status", 8), Column("RTO / budget", 18), Column("failed", 7),
                Column("budget used", 11), Column("tries", 5), Column("run folder", 20)], rows, colors={1: _STATUS_COLORS})  # fmt: skip
    problems = [[d["name"], p] for d in summary["drills"] for p in (d.get("failed_checks") or ([d["error"]] if d.get("error") else []))]
    if problems:
        flow.heading("What did not pass")
        flow.table([Column("drill", 20), Column("reason", 78)], problems)
    flow.heading("How the score is weighted")
    flow.paragraph("50 points: share of drills passed. 30 points: recovery, mean of clamp(1 - RTO / (2 x budget), 0, 1) "
                   "(instant 1, at the budget 0.5, never 0). 20 points: error budget left, mean of clamp(1 - consumed, 0, 1).")  # fmt: skip
    return flow.pages


def _rto(d: dict[str, Any]) -> str:
    rto = "never" if d.get("rto_never") else seconds(d.get("rto_s"))
    return f"{rto} / {d['rto_budget_s']:g} s" if d.get("rto_budget_s") else rto


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _score_color(score: float) -> str:
    return VERDICT_COLORS["PASS"] if score >= 80 else VERDICT_COLORS["NO_DATA"] if score >= 50 else VERDICT_COLORS["FAIL"]
