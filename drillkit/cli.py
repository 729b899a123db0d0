"""The ``drillkit`` command line: parse, call the library, print (rich tables or ``--json``).

Exit codes are ``drillkit.errors.ExitCode`` (listed in the README).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drillkit.errors import DrillkitError, ExitCode, SpecError
from drillkit.platforms.base import EnvironmentStatus
from drillkit.platforms.local import LocalPlatform, require_up
from drillkit.spec import load_environment

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Disaster-recovery drills for a two-region Triton recommender.")
model_app = typer.Typer(no_args_is_help=True, help="Build, verify and publish model repository versions.")
traffic_app = typer.Typer(no_args_is_help=True, help="Synthesize and inspect search/recommend traces.")
app.add_typer(model_app, name="model")
app.add_typer(traffic_app, name="traffic")

out = Console()
err = Console(stderr=True)

DEFAULT_ENV = "drills/environments/local.yaml"
EnvOption = Annotated[
    Path,
    typer.Option("--env", "-e", envvar="DRILLKIT_ENV", help="Environment spec (YAML).", show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _platform(env: Path) -> LocalPlatform:
    return LocalPlatform(load_environment(env), spec_file=str(env))


@app.command()
def up(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Start the environment and wait until every node serves through the gateway."""
    platform = _platform(env)
    with err.status(f"starting environment [bold]{platform.name}[/] (Triton nodes, fault proxy, HAProxy, Prometheus)"):
        status = platform.up()
    _print_status(status, as_json)


@app.command()
def status(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Show every component of the environment, live."""
    _print_status(_platform(env).status(), as_json)


@app.command()
def down(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """End exactly what `up` started (also after the CLI was killed)."""
    stopped = _platform(env).down()
    if as_json:
        out.print_json(json.dumps({"stopped": stopped}))
    else:
        out.print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")


@app.command()
def smoke(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Send the model's golden search and recommend probes through the gateway; compare answers."""
    from drillkit.smoke import probe_gateway

    platform = _platform(env)
    status = require_up(platform)
    results = probe_gateway(status.gateway_url or "", platform.spec)
    if as_json:
        out.print_json(json.dumps([r.as_dict() for r in results]))
    else:
        out.print(_probe_table(results))
    if not all(r.ok for r in results):
        raise typer.Exit(ExitCode.DRILL_FAILED)


@model_app.command("build")
def model_build(
    env: EnvOption = Path(DEFAULT_ENV),
    root: Annotated[Path | None, typer.Option(help="Repository root (default: <state_dir>/models).")] = None,
) -> None:
    """Build the environment's model version into a repository (skipped when it exists and verifies)."""
    from drillkit.platforms.provision import ensure_built

    spec = load_environment(env)
    path = ensure_built(spec.model, root or spec.state_dir / "models")
    out.print(f"model {spec.model.version} ready at {path}")


@model_app.command("verify")
def model_verify(version_dir: Path) -> None:
    """Check a version folder against its manifest (sha256 of every file)."""
    from drillkit.model.repository import verify

    manifest = verify(version_dir)
    out.print(f"{version_dir}: OK ({len(manifest.files)} files, version {manifest.version})")


@model_app.command("publish")
def model_publish(version_dir: Path, dest_root: Path) -> None:
    """Copy a verified version into another repository (atomic; the copy is verified too)."""
    from drillkit.model.repository import publish

    out.print(f"published to {publish(version_dir, dest_root)}")


@traffic_app.command("synth")
def traffic_synth(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Trace to write (.parquet or .csv).")] = Path("loadtests/traces/synth.parquet"),
    duration: Annotated[float, typer.Option(help="Seconds of traffic.")] = 60.0,
    rate: Annotated[float, typer.Option(help="Mean requests per second.")] = 50.0,
    search_share: Annotated[float, typer.Option(help="Share of searches, 0..1.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    user_zipf: Annotated[float, typer.Option(help="Zipf exponent of user popularity (> 1).")] = 1.1,
    diurnal: Annotated[float, typer.Option(help="Diurnal amplitude, 0 (flat) .. <1.")] = 0.5,
    bursts: Annotated[int, typer.Option(help="Number of bursts.")] = 2,
    burst_factor: Annotated[float, typer.Option(help="Rate multiplier during a burst.")] = 3.0,
    env: EnvOption = Path(DEFAULT_ENV),
) -> None:
    """Generate a realistic trace from the environment's model catalog."""
    from drillkit.model.catalog import load_catalog
    from drillkit.platforms.provision import ensure_built
    from drillkit.synth import SynthOptions, synthesize
    from drillkit.trace import read_trace, summarize, write_trace

    spec = load_environment(env)
    try:
        options = SynthOptions(duration_s=duration, mean_rps=rate, search_share=search_share, seed=seed,
                               user_zipf=user_zipf, diurnal_amplitude=diurnal, bursts=bursts, burst_factor=burst_factor)  # fmt: skip
    except ValueError as exc:
        raise SpecError("command line", "traffic synth", str(exc), "see `drillkit traffic synth --help`") from None
    catalog = load_catalog(ensure_built(spec.model, spec.state_dir / "models") / "catalog")
    path = write_trace(synthesize(catalog, options), out_path)
    stats = summarize(read_trace(path))
    out.print(f"wrote {stats.requests} requests over {stats.duration_s:.0f} s ({stats.mean_rps:.1f} req/s) to {path}")


@traffic_app.command("stats")
def traffic_stats(trace: Path, as_json: JsonOption = False) -> None:
    """Rate over time, mix, users, sessions and top queries of a trace."""
    from dataclasses import asdict

    from drillkit.trace import read_trace, summarize

    stats = summarize(read_trace(trace))
    if as_json:
        out.print_json(json.dumps(asdict(stats)))
        return
    out.print(f"{trace}: {stats.requests} requests, {stats.duration_s:.1f} s, {stats.mean_rps:.1f} req/s, "
              f"{stats.users} users, {stats.sessions} sessions")  # fmt: skip
    out.print("mix: " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(stats.mix.items())))
    rates = Table(title="rate over time", title_justify="left")
    rates.add_column("from s", justify="right")
    rates.add_column("req/s", justify="right")
    rates.add_column("")
    peak = max(r for _, r in stats.rate_rps) or 1.0
    for start, r in stats.rate_rps:
        rates.add_row(f"{start:.0f}", f"{r:.1f}", "#" * round(30 * r / peak))
    out.print(rates)
    queries = Table(title="top queries", title_justify="left")
    queries.add_column("query")
    queries.add_column("count", justify="right")
    for q, c in stats.top_queries:
        queries.add_row(q, str(c))
    out.print(queries)


@app.command()
def load(
    trace: Annotated[Path, typer.Option("--trace", "-t", help="Trace to replay.")] = Path("loadtests/traces/sample.csv"),
    speed: Annotated[float, typer.Option(help="Replay speed factor.")] = 1.0,
    processes: Annotated[int, typer.Option(help="Locust processes (one per core).")] = 1,
    max_requests: Annotated[int, typer.Option(help="Hard cap on requests.")] = 1_000_000,
    max_duration: Annotated[float, typer.Option(help="Hard cap on the replay, seconds.")] = 3_600.0,
    run_dir: Annotated[Path | None, typer.Option("--out", help="Run folder (default reports/load-<time>).")] = None,
    env: EnvOption = Path(DEFAULT_ENV),
    as_json: JsonOption = False,
) -> None:
    """Replay a trace through the environment's gateway (open loop) and log every request."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from drillkit.load import Load, LoadPlan
    from drillkit.request_log import read_request_log

    status = require_up(_platform(env))
    folder = run_dir or Path("reports") / time.strftime("load-%Y%m%d-%H%M%S")
    slot = Path(status.loadgen_targets_dir) if status.loadgen_targets_dir else None
    plan = LoadPlan(trace=trace, host=status.gateway_url or "", run_dir=folder, speed=speed, processes=processes,
                    max_requests=max_requests, max_duration_s=max_duration, metrics_dir=slot)  # fmt: skip
    runner = Load(plan)
    runner.start()
    try:
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[live]}"), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=as_json) as bar:
            task = bar.add_task("load", total=runner.scheduled, live="")
            while runner.running():
                p = runner.progress()
                bar.update(task, completed=p.sent, live=f"{p.rate_rps:.0f} req/s, {p.errors} errors")
                time.sleep(0.5)
    finally:
        path = runner.stop()
    _print_load_summary(read_request_log(path.parent), path, as_json)


def _print_load_summary(frame, path: Path, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    ok = frame["outcome"] == "ok"
    summary = {
        "request_log": str(path),
        "requests": int(len(frame)),
        "ok": int(ok.sum()),
        "errors": {str(k): int(v) for k, v in frame.loc[~ok, "error_class"].value_counts().items()},
        "latency_ms": {q: round(float(frame.loc[ok, "latency_s"].quantile(v)) * 1e3, 2) if ok.any() else None
                       for q, v in (("p50", 0.5), ("p99", 0.99))},
        "by_region": {str(k): int(v) for k, v in frame["region"].value_counts().items()},
        "lag_p99_ms": round(float((frame["sent_at"] - frame["scheduled_at"]).quantile(0.99)) * 1e3, 2) if len(frame) else None,
    }  # fmt: skip
    if as_json:
        out.print_json(json.dumps(summary))
        return
    table = Table(title=f"load summary ({path})", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key != "request_log":
            table.add_row(key, str(value))
    out.print(table)


@app.command()
def validate(drill: Path) -> None:
    """Validate a drill completely (spec, environment, experiment, trace) without touching anything."""
    from drillkit.plan import plan_drill

    plan = plan_drill(drill)
    out.print(f"{drill}: valid ({plan.experiment.get('title')}; {len(plan.trace)} requests over {plan.trace.duration_s:.0f} s)")


@app.command()
def run(
    drill: Path,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate everything, then stop.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Inject even when the capacity pre-check refuses.")] = False,
    reports: Annotated[Path, typer.Option(help="Folder for run folders.")] = Path("reports"),
    as_json: JsonOption = False,
) -> None:
    """Run a drill: load, fault, rollback, measure; exit with the drill's verdict."""
    from drillkit.drill import run_drill
    from drillkit.plan import plan_drill

    plan = plan_drill(drill)
    if dry_run:
        out.print(f"{drill}: valid; dry run, nothing started")
        return
    _interrupt_on_signals()
    with err.status(f"drill [bold]{plan.spec.name}[/] running ({plan.experiment.get('title')})"):
        result = run_drill(plan, reports=reports, force=force)
    if as_json:
        out.print_json(json.dumps({k: result.journal[k] for k in ("checks", "measurements", "exit_code")} | {"run_dir": str(result.run_dir)}))
    else:
        _print_verdict(result.journal, result.run_dir)
    raise typer.Exit(int(result.exit_code))


@app.command()
def recover(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Undo every fault a crashed or killed drill left behind (replays the undo log)."""
    from drillkit.chaos.undo import undo_pending

    undone = undo_pending(_platform(env), faults_only=False)
    if as_json:
        out.print_json(json.dumps(undone))
    else:
        out.print(f"undid {len(undone)} pending faults" if undone else "nothing to undo")
        for u in undone:
            out.print(f"  {u['fault']} -> {u['undo']} {u['args']}" + (f" [red]failed: {escape(u['error'])}[/]" if u["error"] else ""))
    if any(u["error"] for u in undone):
        raise typer.Exit(int(ExitCode.ROLLBACK_FAILED))


@app.command()
def faults(as_json: JsonOption = False) -> None:
    """List the Chaos Toolkit actions and probes drillkit provides, with their arguments."""
    import inspect

    from drillkit.chaos import actions, probes

    rows = []
    for module in (actions, probes):
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


def _print_verdict(journal: dict, run_dir: Path) -> None:  # type: ignore[type-arg]
    table = Table(title=f"drill {journal['drill']['name']}", title_justify="left")
    for column in ("check", "verdict", "detail"):
        table.add_column(column)
    for c in journal["checks"]:
        color = "green" if c["verdict"] == "PASS" else "red"
        table.add_row(c["name"], f"[{color}]{c['verdict']}[/]", c["detail"])
    out.print(table)
    m = journal.get("measurements") or {}
    if m:
        out.print(f"RTO {m.get('rto_s')} s, TTD {m.get('ttd_s')} s, outage {m.get('outage_s'):.3f} s, "
                  f"failed {m.get('failed_requests')} of {m.get('requests')}, failback {m.get('failback_s')} s")  # fmt: skip
    out.print(f"verdict: {'PASS' if journal['exit_code'] == 0 else 'FAIL'}   report: {run_dir / 'report.pdf'}")


def _print_status(status: EnvironmentStatus, as_json: bool) -> None:
    if as_json:
        out.print_json(status.model_dump_json())
        return
    title = f"environment {status.environment} ({status.platform}): {'UP' if status.up else 'DOWN'}"
    table = Table(title=title, title_justify="left")
    for column in ("component", "kind", "region", "health", "gateway", "pid", "endpoint"):
        table.add_column(column)
    for c in status.components:
        style = {"ready": "green", "dead": "red"}.get(c.health.value, "yellow")
        table.add_row(c.name, c.kind.value, c.region or "", f"[{style}]{c.health.value}[/]",
                      c.gateway_state or "", str(c.pid or ""), c.endpoint or "")  # fmt: skip
    out.print(table)
    if status.gateway_url:
        out.print(f"gateway {status.gateway_url}   prometheus {status.prometheus_url}   model {status.model_version}")


def _probe_table(results: list) -> Table:  # type: ignore[type-arg]
    table = Table(title="golden probes through the gateway", title_justify="left")
    for column in ("model", "request", "served by", "latency ms", "top-k overlap", "result"):
        table.add_column(column)
    for r in results:
        verdict = "[green]match[/]" if r.ok else f"[red]{r.error or 'mismatch'}[/]"
        table.add_row(r.model, r.request, f"{r.region or '?'}/{r.node or '?'}", f"{r.latency_ms:.1f}", f"{r.overlap:.2f}", verdict)
    return table


def main() -> None:
    """Console entry point: map drillkit errors to documented exit codes."""
    try:
        code = app(standalone_mode=False)
    except DrillkitError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(int(exc.exit_code))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        exc.show()  # type: ignore[attr-defined]
        sys.exit(int(ExitCode.INVALID_INPUT))
    sys.exit(code if isinstance(code, int) else int(ExitCode.OK))


if __name__ == "__main__":
    main()
