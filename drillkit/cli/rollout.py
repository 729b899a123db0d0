"""``drillkit rollout VERSION``: a verified rolling upgrade with automatic rollback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from drillkit.cli._app import DEFAULT_ENV, EnvOption, JsonOption, app, out, platform_of
from drillkit.errors import ExitCode


@app.command(rich_help_panel="Model")
def rollout(
    version: Annotated[str, typer.Argument(help="The version to roll out (built into the model cache, or in object storage).")],
    env: EnvOption = Path(DEFAULT_ENV),
    trace: Annotated[Path | None, typer.Option(help="Compare the canary on this trace's requests (default: the golden probes).")] = None,
    reports: Annotated[Path, typer.Option(help="Folder for the rollout's journal.")] = Path("reports"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; touch nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Roll VERSION out node by node, the canary first, and roll it back automatically.

    The canary is compared with a node on the old version (wrong answers by the golden rules,
    errors, latency) under the environment's `rollout:` policy; any bound passed, or a node
    that cannot serve the version, puts every node back on the old version, verified. Exit 0
    when it rolled out, 1 when it was rolled back, 3 when the rollback failed (`drillkit
    recover` finishes it). The journal is reports/rollout-<version>-<time>/rollout.json.
    """
    from drillkit.drill import drill_lock
    from drillkit.platforms import require_up
    from drillkit.rollout.engine import Rollout, plan_rollout
    from drillkit.rollout.report import RolloutJournal, RolloutReport, write_rollout_journal
    from drillkit.rollout.sample import sample_requests
    from drillkit.spec import model_cache
    from drillkit.workload.golden import golden_of

    platform = platform_of(env)
    require_up(platform)
    plan = plan_rollout(platform, version, source=str(env))
    if dry_run:
        _print_plan(plan.model_dump(mode="json"), platform.spec.rollout.model_dump(mode="json"), trace, as_json)
        return
    folder = reports / f"rollout-{version}-{time.strftime('%Y%m%d-%H%M%S')}"

    def persist(report: RolloutReport) -> None:
        write_rollout_journal(folder, RolloutJournal(environment=platform.name, report=report))
        if not as_json and report.steps:
            step = report.steps[-1]
            out.print(f"{escape(step.node)} -> {escape(step.version)} ({step.role})" + (f": {escape(step.error)}" if step.error else ""))

    with drill_lock(platform):
        requests = sample_requests(golden_of(model_cache(platform.spec) / plan.previous), platform.spec.rollout.compare_requests,
                                   trace=trace)  # fmt: skip
        engine = Rollout(platform, plan, policy=platform.spec.rollout, requests=requests, on_step=persist)
        report = engine.run()
        if report.outcome != "rollback_failed":
            platform.undo_log().done(engine.undo.id)  # the release stays, or every node is back: nothing to undo
    _print_report(report, folder, as_json)
    raise typer.Exit(int({"completed": ExitCode.OK, "rolled_back": ExitCode.DRILL_FAILED}.get(report.outcome or "", ExitCode.ROLLBACK_FAILED)))


def _print_plan(plan: dict[str, object], policy: dict[str, object], trace: Path | None, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps({"plan": plan, "policy": policy, "compared_on": str(trace) if trace else "golden probes"}))
        return
    order = plan["order"]
    assert isinstance(order, list)
    out.print(f"roll out {escape(str(plan['version']))} over {escape(str(plan['previous']))}, one node at a time: "
              f"{escape(' -> '.join(order))}")  # fmt: skip
    out.print(f"canary {escape(str(order[0]))}: serves live traffic {policy['bake_s']} s, then {policy['compare_requests']} requests "
              f"({escape(str(trace) if trace else 'the golden probes')}) to it and to {escape(str(plan['reference']))} on the old version")  # fmt: skip
    out.print(f"rolled back when: wrong answers > {policy['max_wrong_share']}, errors > {policy['max_error_share']}, "
              f"p99 > {policy['max_latency_ratio']} x the old one's (p99s under {policy['latency_floor_ms']} ms not compared)")  # fmt: skip


def _print_report(report: object, folder: Path, as_json: bool) -> None:
    from drillkit.rollout.report import RolloutReport

    assert isinstance(report, RolloutReport)
    if as_json:
        out.print_json(json.dumps({**report.model_dump(mode="json"), "journal": str(folder)}))
        return
    table = Table(title=f"rollout of {report.plan.version}", title_justify="left")
    for column in ("node", "version", "role", "drained → serving", "verified", "error"):
        table.add_column(column)
    for s in report.steps:
        took = f"{s.serving_at - s.requested_at:.1f} s" if s.serving_at else "-"
        table.add_row(s.node, s.version, s.role, took, "yes" if s.verified_at else "-", escape(s.error or ""))
    out.print(table)
    c = report.comparison
    if c is not None:
        out.print(f"canary {c.canary} vs {c.reference}: {c.wrong} wrong of {c.answered}, errors {c.errors_new}/{c.requests}, "
                  f"p50 {c.p50_ms_new} ms vs {c.p50_ms_old} ms, p99 {c.p99_ms_new} ms vs {c.p99_ms_old} ms")  # fmt: skip
    why = "; ".join(report.reasons) or "every bound held"
    out.print(f"{report.outcome}: {escape(why)}; journal {escape(str(folder))}")
