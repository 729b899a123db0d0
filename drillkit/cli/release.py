"""``drillkit report / suite / gate / history / schedule``: what SREs hand on and pipelines gate on."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from drillkit.cli._app import JsonOption, app, err, out
from drillkit.errors import ExitCode

ReportsOption = Annotated[Path, typer.Option("--reports", help="Reports folder (run folders, suites, history.sqlite).")]
HistoryOption = Annotated[Path | None, typer.Option("--history", help="History store (default: <reports>/history.sqlite).")]


@app.command(rich_help_panel="Reports")
def report(
    folder: Path,
    target: Annotated[Path | None, typer.Option("--out", help="PDF to write (default: in the folder).")] = None,
) -> None:
    """Render a run folder's report.pdf (or a suite folder's suite.pdf, junit.xml) again, same content."""
    if (folder / "summary.json").exists():
        from drillkit.report.suite_report import render_suite_outputs

        render_suite_outputs(folder)
        out.print(f"wrote {folder / 'suite.pdf'} and {folder / 'junit.xml'}")
        return
    from drillkit.report.pdf import render_report

    out.print(f"wrote {render_report(folder, target=target)}")


@app.command(rich_help_panel="Reports")
def suite(
    suite_file: Path,
    reports: ReportsOption = Path("reports"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate every drill of the suite, then stop.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a suite of drills in order; write one suite folder (run folders, suite.pdf, junit.xml, summary.json)."""
    from drillkit.cli.drill import _interrupt_on_signals
    from drillkit.cli.progress import SuiteProgress
    from drillkit.suite import SuiteRunner, plan_suite

    plan = plan_suite(suite_file)
    if dry_run:
        out.print(f"{suite_file}: valid ({len(plan.drills)} drills); dry run, nothing started")
        return
    _interrupt_on_signals()
    with SuiteProgress(err, [p.spec.name for p, _ in plan.drills], transient=as_json) as progress:
        result = SuiteRunner(plan, reports=reports, listener=progress).run()
    summary = json.loads((result.folder / "summary.json").read_text())
    if as_json:
        out.print_json(json.dumps(summary | {"folder": str(result.folder), "exit_code": int(result.exit_code)}))
    else:
        _print_suite(summary, result.folder)
    raise typer.Exit(int(result.exit_code))


@app.command(rich_help_panel="Reports")
def gate(
    target: Path,
    policy: Annotated[Path, typer.Option("--policy", help="Gate policy (YAML).")] = Path("drills/policies/release.yaml"),
    history: HistoryOption = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write the reasons as JUnit XML here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a run or suite folder against a release policy; exit 0 (release) or 1 (refused), printing each reason."""
    from drillkit.gate import gate as apply_gate
    from drillkit.gate import write_gate_junit
    from drillkit.report.history import History, find_history
    from drillkit.spec.policy import load_policy

    rules = load_policy(policy)
    store = history or find_history(target)
    result = apply_gate(target, rules, history=History(store) if store is not None and store.exists() else None)
    if junit is not None:
        write_gate_junit(junit, result)
    if as_json:
        out.print_json(json.dumps({"passed": result.passed, "reasons": [r.as_dict() for r in result.reasons],
                                   "failures": [r.as_dict() for r in result.failures]}))  # fmt: skip
    else:
        _print_gate(result)
    raise typer.Exit(int(ExitCode.OK if result.passed else ExitCode.DRILL_FAILED))


@app.command(rich_help_panel="Reports")
def history(
    drill: Annotated[str | None, typer.Option("--drill", help="Only this drill.")] = None,
    reports: ReportsOption = Path("reports"),
    store: HistoryOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Recreate the store from the run folders first.")] = False,
    trend: Annotated[Path | None, typer.Option("--trend", help="Also draw RTO and failed requests across runs (.pdf or .png).")] = None,
    last: Annotated[int, typer.Option(help="Show the last N runs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Every recorded run (drill, release, verdict, RTO, failed requests, RPO), oldest first."""
    from dataclasses import asdict

    from drillkit.report.history import HISTORY_NAME, History
    from drillkit.report.history import rebuild as rebuild_store
    from drillkit.report.trend import render_trend

    db = History(store or reports / HISTORY_NAME)
    if rebuild:
        err.print(f"rebuilt from {rebuild_store(db, reports)} run folders under {reports}")
    rows = db.rows(drill=drill, last=last)
    if trend is not None:
        err.print(f"wrote {render_trend(rows, trend)}")
    if as_json:
        out.print_json(json.dumps([{k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(r).items()}
                                   for r in rows]))  # fmt: skip
        return
    _print_history(rows)


@app.command(rich_help_panel="Reports")
def schedule(
    suite_file: Path,
    cron: Annotated[str, typer.Option("--cron", help='Cron schedule, e.g. "0 3 * * *".')],
    crontab: Annotated[bool, typer.Option("--crontab", help="Print a crontab line for a plain host instead.")] = False,
    image: Annotated[str, typer.Option(help="Container image built from the Dockerfile.")] = "drillkit:latest",
    pvc: Annotated[str, typer.Option(help="PersistentVolumeClaim mounted at /results.")] = "drillkit-results",
    namespace: Annotated[str | None, typer.Option(help="Namespace of the CronJob.")] = None,
    repo: Annotated[Path, typer.Option(help="Repository folder on the host (--crontab).")] = Path("."),
) -> None:
    """Print a Kubernetes CronJob manifest (or a crontab line) that runs the suite on a schedule."""
    import yaml

    from drillkit.schedule import cronjob, crontab_line
    from drillkit.spec.suite import load_suite

    load_suite(suite_file)  # a schedule of a broken suite would fail every night
    if crontab:
        out.print(crontab_line(str(suite_file), schedule=cron, repo=repo.resolve()), highlight=False, soft_wrap=True)
        return
    manifest = cronjob(str(suite_file), schedule=cron, image=image, pvc=pvc, namespace=namespace)
    print(yaml.safe_dump(manifest, sort_keys=False), end="")  # plain stdout: piped into kubectl apply -f -


def _print_suite(summary: dict, folder: Path) -> None:  # type: ignore[type-arg]
    table = Table(title=f"suite {summary['suite']}: resilience score {summary['score']:.1f}/100", title_justify="left")
    for column in ("drill", "status", "RTO s", "budget s", "failed", "tries", "detail"):
        table.add_column(column)
    for d in summary["drills"]:
        color = "green" if d["status"] == "PASSED" else "red"
        detail = "; ".join(d.get("failed_checks") or []) or d.get("error") or ""
        table.add_row(d["name"], f"[{color}]{d['status']}[/]", _num(d.get("rto_s"), d.get("rto_never")), _num(d.get("rto_budget_s")),
                      str(d.get("failed_requests", "-")), str(len(d.get("attempts") or [])), escape(detail))  # fmt: skip
    out.print(table)
    if summary.get("comparison"):
        out.print(_comparison_table(summary["comparison"]))
    out.print(f"suite folder: {folder}   report: {folder / 'suite.pdf'}   junit: {folder / 'junit.xml'}")


def _comparison_table(rows: list) -> Table:  # type: ignore[type-arg]
    """Drills down, variants across: RTO / failed / worst p99 under each setting."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    table = Table(title="settings side by side (RTO / failed requests / worst p99)", title_justify="left")
    table.add_column("drill")
    for v in variants:
        table.add_column(v)
    for drill in dict.fromkeys(r["drill"] for r in rows):
        cells = {r["variant"]: r for r in rows if r["drill"] == drill}
        table.add_row(drill, *(_cell(cells.get(v)) for v in variants))
    return table


def _cell(r: dict | None) -> str:  # type: ignore[type-arg]
    if r is None or r["recovered"] is None:
        return "-"
    rto = f"{r['rto_s']:.2f} s" if r["recovered"] else "never"
    return f"{rto} / {r['failed_requests']} / {r['worst_p99_ms']:.0f} ms"


def _print_gate(result) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"release gate: {'PASS' if result.passed else 'REFUSED'}", title_justify="left")
    for column in ("drill", "rule", "verdict", "reason"):
        table.add_column(column)
    for r in result.reasons:
        color = {"PASS": "green", "FAIL": "red"}.get(r.verdict.value, "yellow")
        table.add_row(r.drill, r.rule, f"[{color}]{r.verdict.value}[/]", escape(r.detail))
    out.print(table)
    for r in result.failures:
        out.print(f"[red]refused:[/] {escape(r.drill)} {escape(r.rule)}: {escape(r.detail)}")


def _print_history(rows: list) -> None:  # type: ignore[type-arg]
    from drillkit.report.cover import utc

    table = Table(title=f"drill history ({len(rows)} runs)", title_justify="left")
    for column in ("time", "drill", "release", "verdict", "RTO s", "TTD s", "failed", "budget used", "RPO s", "restore s"):
        table.add_column(column)
    for r in rows:
        color = "green" if r.verdict == "PASS" else "red"
        table.add_row(utc(r.at), r.drill, r.release or "-", f"[{color}]{r.verdict}[/]", _num(r.rto_s), _num(r.ttd_s),
                      str(r.failed_requests if r.failed_requests is not None else "-"),
                      "-" if r.error_budget_consumed is None else f"{r.error_budget_consumed:.0%}", _num(r.rpo_s),
                      _num(r.restore_time_s))  # fmt: skip
    out.print(table)


def _num(value: float | None, never: bool | None = False) -> str:
    if never or (value is not None and math.isinf(value)):
        return "never"
    return "-" if value is None else f"{value:.2f}"
