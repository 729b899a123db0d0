"""``drillkit validate / run / recover / faults``: drills and their safety net."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from drillkit.cli._app import (
    DEFAULT_ENV,
    AllowOption,
    EnvOption,
    JsonOption,
    allow_in_process,
    app,
    err,
    out,
    platform_of,
)
from drillkit.errors import ExitCode
from drillkit.units import shown

if TYPE_CHECKING:
    from drillkit.journal import Journal

EnvOverride = Annotated[
    Path | None,
    typer.Option("--env", "-e", help="Run against this environment instead of the one the drill names."),
]


def _plan(drill: Path, env: Path | None):  # type: ignore[no-untyped-def]
    from drillkit.plan import plan_drill
    from drillkit.spec.suite import DrillOverrides

    if env is None:
        return plan_drill(drill)
    return plan_drill(drill, DrillOverrides({"environment": str(env.resolve())}, "command line", "--env"))


@app.command(rich_help_panel="Drills")
def validate(drill: Path, env: EnvOverride = None) -> None:
    """Validate a drill completely (spec, environment, experiment, trace) without touching anything."""
    plan = _plan(drill, env)
    out.print(f"{drill}: valid ({plan.experiment.get('title')}; {len(plan.trace)} requests over {plan.trace.duration_s:.0f} s)")
    _print_blast_radius(plan.blast_radius)


def _print_blast_radius(lines: tuple[str, ...]) -> None:
    """Attach mode: what each fault will touch of the user's deployment."""
    if lines:
        out.print("what each fault will touch:")
        for line in lines:
            out.print(f"  {escape(line)}", highlight=False)


@app.command(rich_help_panel="Drills")
def run(
    drill: Path,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate everything, then stop.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Inject even when the capacity pre-check or the version-skew preflight refuses.")] = False,
    reports: Annotated[Path, typer.Option(help="Folder for run folders.")] = Path("reports"),
    env: EnvOverride = None,
    allow_context: AllowOption = [],  # noqa: B006  (typer reads the default)
    as_json: JsonOption = False,
) -> None:
    """Run a drill: load, fault, rollback, measure; exit with the drill's verdict."""
    from drillkit.drill import run_drill

    allow_in_process(allow_context)
    plan = _plan(drill, env)
    if dry_run:
        out.print(f"{drill}: valid; dry run, nothing started")
        _print_blast_radius(plan.blast_radius)
        return
    _interrupt_on_signals()
    with err.status(f"drill [bold]{plan.spec.name}[/] running ({plan.experiment.get('title')})"):
        result = run_drill(plan, reports=reports, force=force)
    if as_json:
        keys = {"schema_version", "checks", "measurements", "slos", "cross_check", "abort", "restore", "rollout", "capacity", "gateway",
                "exit_code"}  # fmt: skip
        out.print_json(json.dumps(result.journal.model_dump(mode="json", include=keys) | {"run_dir": str(result.run_dir)}))
    else:
        _print_verdict(result.journal, result.run_dir)
    raise typer.Exit(int(result.exit_code))


@app.command(rich_help_panel="Drills")
def recover(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False, allow_context: AllowOption = []) -> None:  # noqa: B006
    """Undo every fault a crashed or killed drill left behind (replays the undo log)."""
    from drillkit.chaos.undo import undo_pending
    from drillkit.platforms.attached import AttachedPlatform

    allow_in_process(allow_context)
    platform = platform_of(env)
    undone = undo_pending(platform, faults_only=False)
    # Attach mode: what the objects themselves still record, so a recover from any machine
    # (without this one's undo log) gives the user's deployment back too.
    swept = platform.sweep() if isinstance(platform, AttachedPlatform) else []
    if as_json:
        out.print_json(json.dumps(undone if not isinstance(platform, AttachedPlatform) else {"undone": undone, "found_on_objects": swept}))
    else:
        out.print(f"undid {len(undone)} pending faults" if undone else "nothing to undo")
        for u in undone:
            out.print(f"  {u['fault']} -> {u['undo']} {u['args']}" + (f" [red]failed: {escape(u['error'])}[/]" if u["error"] else ""))
        for line in swept:
            out.print(f"  found on the objects: {escape(line)}")
    if any(u["error"] for u in undone):
        raise typer.Exit(int(ExitCode.ROLLBACK_FAILED))


@app.command(rich_help_panel="Drills")
def faults(as_json: JsonOption = False) -> None:
    """List the Chaos Toolkit actions and probes drillkit provides, with their arguments."""
    import inspect

    from drillkit.chaos import actions, probes, prom_probes

    rows = []
    for module in (actions, probes, prom_probes):
        for name in module.__all__:
            func = getattr(module, name)
            params = [str(p) for p in inspect.signature(func).parameters.values() if p.name != "configuration"]
            rows.append({"module": module.__name__, "func": name, "arguments": params, "doc": (func.__doc__ or "").split("\n")[0]})
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="drillkit Chaos Toolkit activities", title_justify="left")
    for column in ("module", "func", "arguments", "what it does"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["module"].rsplit(".", 1)[1], r["func"], ", ".join(r["arguments"]), r["doc"])
    out.print(table)


def _interrupt_on_signals() -> None:
    """First SIGINT/SIGTERM: stop and roll back. Second: stop now (pending undos stay for `recover`)."""
    import os
    import signal

    count = {"n": 0}

    def handler(signum: int, frame: object) -> None:
        count["n"] += 1
        if count["n"] > 1:
            err.print("second signal: stopping now; run `drillkit recover` to undo what is pending")
            os._exit(int(ExitCode.INTERRUPTED))
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_verdict(journal: Journal, run_dir: Path) -> None:
    table = Table(title=f"drill {journal.name}", title_justify="left")
    for column in ("check", "verdict", "detail"):
        table.add_column(column)
    for c in journal.checks:
        color = "green" if c.verdict == "PASS" else "yellow" if c.allowed_no_data else "red"
        table.add_row(c.name, f"[{color}]{c.verdict.value}[/]", escape(c.detail))
    out.print(table)
    m = journal.measurements
    if m is not None:
        out.print(f"RTO {shown(m.rto_s)} (every {m.resolution_s:g} s), TTD {shown(m.ttd_s)}, outage {shown(m.outage_s)}, "
                  f"failed {m.failed_requests} of {m.requests}" + (f", shed {m.shed_requests}" if m.shed_requests else "")
                  + f", failback {shown(m.failback_s)}")  # fmt: skip
    g = journal.gateway
    if g is not None and g.fault is not None:
        out.print(f"gateway: {g.fault.retries} retries, {g.fault.redispatches} redispatches for {g.fault.requests} requests "
                  f"through the fault (warm-up: {g.warmup.retries if g.warmup else '-'})")  # fmt: skip
    for warning in (journal.capacity or {}).get("warnings") or []:
        out.print(f"[yellow]warning:[/] {escape(str(warning))}")
    x = journal.cross_check
    if x is not None:
        color = "red" if x.flagged else "green"
        out.print(f"Prometheus cross-check: RTO {shown(x.rto_prom_s)} (log {shown(x.rto_log_s)}), "
                  f"TTD {shown(x.ttd_prom_s)} (log {shown(x.ttd_log_s)}): [{color}]{escape(x.note)}[/]")  # fmt: skip
    out.print(f"verdict: {'PASS' if journal.exit_code == 0 else 'FAIL'}   report: {run_dir / 'report.pdf'}")
