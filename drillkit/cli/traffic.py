"""``drillkit traffic synth / stats`` and ``drillkit load``: traces and their replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from drillkit.cli._app import DEFAULT_ENV, EnvOption, JsonOption, app, err, out, platform_of
from drillkit.errors import SpecError
from drillkit.platforms import require_up
from drillkit.spec import load_environment, model_cache

traffic_app = typer.Typer(no_args_is_help=True, help="Synthesize, import and inspect traces (search/recommend, or any model's KServe v2 requests).")
app.add_typer(traffic_app, name="traffic", rich_help_panel="Traffic")

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
    catalog = load_catalog(ensure_built(spec.model, model_cache(spec)) / "catalog")
    path = write_trace(synthesize(catalog, options), out_path)
    stats = summarize(read_trace(path))
    out.print(f"wrote {stats.requests} requests over {stats.duration_s:.0f} s ({stats.mean_rps:.1f} req/s) to {path}")


@traffic_app.command("import")
def traffic_import(
    capture: Path,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Trace to write (.jsonl or .parquet).")] = Path("loadtests/traces/imported.jsonl"),
    model: Annotated[list[str] | None, typer.Option("--model", help="Keep only this model's requests (repeatable).")] = None,
    mitmdump: Annotated[str | None, typer.Option(help="mitmproxy's mitmdump, to read a flow file (default: "
                                                     "$DRILLKIT_MITMDUMP, PATH, then the one `make setup` installs).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Turn a capture (HAR 1.2, GoReplay .gor, mitmproxy flows) into a KServe v2 trace: inference
    requests only, their timing kept, no header written."""
    from drillkit.workload.capture import import_capture

    report = import_capture(capture, out_path, models=model or (), mitmdump=mitmdump)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    kept = ", ".join(f"{escape(m)} {n}" for m, n in sorted(report.kept.items()))
    out.print(f"wrote {sum(report.kept.values())} requests over {report.duration_s:.1f} s ({kept}) "
              f"from {escape(str(capture))} ({report.format}) to {escape(report.trace)}; headers dropped")  # fmt: skip
    for reason, n in sorted(report.skipped.items()):
        out.print(f"skipped {n}: {escape(reason)}")


@traffic_app.command("stats")
def traffic_stats(trace: Path, as_json: JsonOption = False) -> None:
    """Rate over time, mix, users, sessions and top queries of a trace."""
    from dataclasses import asdict

    from drillkit.trace import read_trace, summarize

    stats = summarize(read_trace(trace))
    if as_json:
        out.print_json(json.dumps(asdict(stats)))
        return
    people = f", {stats.users} users, {stats.sessions} sessions" if stats.format == "recsys" else ""
    out.print(f"{escape(str(trace))} ({stats.format}): {stats.requests} requests, {stats.duration_s:.1f} s, "
              f"{stats.mean_rps:.1f} req/s{people}")  # fmt: skip
    out.print("mix: " + ", ".join(f"{escape(k)} {v:.1%}" for k, v in sorted(stats.mix.items())))
    rates = Table(title="rate over time", title_justify="left")
    rates.add_column("from s", justify="right")
    rates.add_column("req/s", justify="right")
    rates.add_column("")
    peak = max(r for _, r in stats.rate_rps) or 1.0
    for start, r in stats.rate_rps:
        rates.add_row(f"{start:.0f}", f"{r:.1f}", "#" * round(30 * r / peak))
    out.print(rates)
    if stats.format != "recsys":
        return
    queries = Table(title="top queries", title_justify="left")
    queries.add_column("query")
    queries.add_column("count", justify="right")
    for q, c in stats.top_queries:
        queries.add_row(escape(q), str(c))
    out.print(queries)


@app.command(rich_help_panel="Traffic")
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

    status = require_up(platform_of(env))
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


