"""``drillkit golden record / check``: the golden answers drills judge a model's answers by."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from drillkit.cli._app import DEFAULT_ENV, EnvOption, JsonOption, app, out, platform_of
from drillkit.errors import ExitCode, SpecError
from drillkit.spec import model_cache

golden_app = typer.Typer(no_args_is_help=True, help="Record and check the golden answers of the environment's model.")
app.add_typer(golden_app, name="golden", rich_help_panel="Model")


@golden_app.command("record")
def golden_record(
    env: EnvOption = Path(DEFAULT_ENV),
    node: Annotated[str | None, typer.Option(help="Record from this node (default: the first ready primary node).")] = None,
    count: Annotated[int, typer.Option(help="Probe requests per model.")] = 8,
    trace: Annotated[Path | None, typer.Option(help="Take the probes from this trace (spread across it) instead.")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", metavar="[MODEL/]OUTPUT=RULE",
                    help="An output's rule: exact, tolerance:ABS:REL or topk:MIN_OVERLAP[:ordered] (repeatable).")] = None,  # fmt: skip
    as_json: JsonOption = False,
) -> None:
    """Send probe requests to one healthy node twice and keep its answers as the golden ones.

    The probes come from --trace (the requests users send), else the built-in recommender's own,
    else they are made up from each model's metadata. An
    output that answers differently twice in a row needs a looser --rule. The answers go beside
    the version's manifest (in the model cache and every region's copy); the local gateway
    then checks nodes with the first probe and re-tunes its per-try timeouts. In attach mode
    (kubernetes.deploy: false) the answers are your service's, through its endpoint, and
    --trace is required.
    """
    from drillkit.workload.golden import parse_rule
    from drillkit.workload.record import record_environment

    try:
        overrides = dict(parse_rule(text) for text in rule or [])
    except ValueError as exc:
        raise SpecError("command line", "--rule", str(exc), "see `drillkit golden record --help`") from None
    requests = None
    if trace is not None:
        from drillkit.trace import read_trace
        from drillkit.workload.trace import trace_requests

        requests = trace_requests(read_trace(trace))
    done = record_environment(platform_of(env), node=node, count=count, overrides=overrides, trace=requests)
    golden = done.golden
    if as_json:
        rules = {m: {o: r.model_dump() for o, r in rs.items()} for m, rs in golden.rules.items()}
        out.print_json(json.dumps({"version": golden.version, "node": done.node, "probes": len(golden.probes),
                                   "models": list(golden.models), "rules": rules, "written": [str(p) for p in done.written]}))  # fmt: skip
        return
    out.print(f"recorded {len(golden.probes)} golden probes of model version {golden.version} from node {done.node}")
    table = Table(title="rules", title_justify="left")
    for column in ("model", "output", "rule"):
        table.add_column(column)
    for model, rules in golden.rules.items():
        for output, r in rules.items():
            table.add_row(escape(model), escape(output), escape(_shown(r.model_dump())))
    out.print(table)
    for path in done.written:
        out.print(f"wrote {escape(str(path))}")


def _shown(rule: dict[str, object]) -> str:
    kind = rule.pop("rule")
    return f"{kind} " + " ".join(f"{k}={v}" for k, v in rule.items() if v not in (None, False))


@golden_app.command("check")
def golden_check(
    env: EnvOption = Path(DEFAULT_ENV),
    node: Annotated[list[str] | None, typer.Option("--node", help="Check this node (repeatable; default: every node).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send every golden probe to each node directly (outside the gateway) and judge the answers."""
    from drillkit.platforms import require_up
    from drillkit.smoke import run_probes
    from drillkit.workload.golden import golden_of

    platform = platform_of(env)
    status = require_up(platform)
    golden = golden_of(model_cache(platform.spec) / platform.spec.model.version)
    nodes = status.nodes()
    unknown = sorted(set(node or []) - {n.name for n in nodes})
    if unknown:
        raise SpecError("command line", "--node", f"no node {', '.join(unknown)} in environment {status.environment}",
                        f"pass one of {', '.join(n.name for n in nodes)}")  # fmt: skip
    chosen = [n for n in nodes if not node or n.name in node]
    results = [(n.name, r) for n in chosen for r in run_probes(n.endpoint or "", golden)]
    if as_json:
        out.print_json(json.dumps([{**r.as_dict(), "node": name} for name, r in results]))
    else:
        table = Table(title=f"golden probes of model version {golden.version}", title_justify="left")
        for column in ("node", "model", "probe", "latency ms", "verdict"):
            table.add_column(column)
        for name, r in results:
            verdict = "[green]OK[/]" if r.ok else f"[red]{escape(r.error or r.wrong or '')}[/]"
            table.add_row(escape(name), escape(r.model), escape(r.request), f"{r.latency_ms:.1f}", verdict)
        out.print(table)
    if not all(r.ok for _, r in results):
        raise typer.Exit(ExitCode.DRILL_FAILED)
