"""``drillkit k8s manifests / load``: what ``up`` applies, and distributed load in a cluster."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml

from drillkit.cli._app import DEFAULT_ENV, EnvOption, JsonOption, app, err, out
from drillkit.errors import SpecError
from drillkit.platforms import open_platform
from drillkit.spec import load_environment

k8s_app = typer.Typer(no_args_is_help=True, help="Kubernetes environments: manifests and distributed load.")
app.add_typer(k8s_app, name="k8s", rich_help_panel="Environment")

AllowOption = Annotated[
    list[str],
    typer.Option("--allow-context", metavar="NAME", help="Touch this context although its name looks like production (repeatable)."),
]


def _kubernetes_platform(env: Path, allow: list[str]):  # type: ignore[no-untyped-def]
    from drillkit.platforms.kubernetes import KubernetesPlatform

    platform = open_platform(load_environment(env), spec_file=str(env), allow_contexts=allow)
    if not isinstance(platform, KubernetesPlatform):
        raise SpecError(str(env), "platform", "this is not a Kubernetes environment", "use an environment with platform: kubernetes")
    return platform


@k8s_app.command("manifests")
def k8s_manifests(env: EnvOption = Path(DEFAULT_ENV)) -> None:
    """Print every manifest `drillkit up` applies, per context, as YAML (touches no cluster)."""
    from drillkit.platforms.k8s.deploy import local_version, served_by
    from drillkit.platforms.k8s.render_gateway import gateway_manifests
    from drillkit.platforms.k8s.render_region import (
        namespace_manifest,
        region_manifests,
    )
    from drillkit.platforms.k8s.run import load_run, new_run

    platform = _kubernetes_platform(env, [])
    run = (load_run(platform.run_path) or new_run(platform.name, now=time.time())).run
    spec, k8s = platform.spec, platform.k8s
    for context in k8s.contexts():
        docs = [namespace_manifest(spec, run)] if k8s.create_namespace else []
        docs += [d for r in spec.regions if k8s.cluster(r.name).context == context for d in region_manifests(spec, run, r.name)]
        if k8s.gateway.deploy is not None and k8s.gateway.deploy.context == context:
            docs += gateway_manifests(spec, run, served_by(local_version(platform, fetch=False)))
        # Plain output: rich would wrap long lines and read [brackets] as markup.
        typer.echo(f"# context {context}")
        typer.echo(yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True), nl=False)


@k8s_app.command("load")
def k8s_load(
    trace: Annotated[Path, typer.Option("--trace", "-t", help="Trace to replay (CSV or Parquet, at most 1 MiB).")],
    workers: Annotated[int, typer.Option(min=1, max=256, help="Locust worker pods.")] = 2,
    context: Annotated[str | None, typer.Option(help="Context to run the load in (default: the gateway's).")] = None,
    speed: Annotated[float, typer.Option(min=0.01, max=100, help="Replay speed factor.")] = 1.0,
    host: Annotated[str | None, typer.Option(help="Gateway URL as the pods see it (default: its Service, or the spec's URL).")] = None,
    run_dir: Annotated[Path | None, typer.Option("--out", help="Run folder (default reports/load-k8s-<time>).")] = None,
    keep: Annotated[bool, typer.Option(help="Leave the load's Jobs in the cluster (for kubectl logs).")] = False,
    env: EnvOption = Path(DEFAULT_ENV),
    allow_context: AllowOption = [],  # noqa: B006  (typer reads the default)
    as_json: JsonOption = False,
) -> None:
    """Replay a trace from Locust master + worker pods into the gateway; collect the request log here."""
    from drillkit.platforms.k8s.load import in_cluster_gateway, run_load
    from drillkit.platforms.k8s.render_load import LoadJob
    from drillkit.request_log import read_request_log
    from drillkit.trace import read_trace

    platform = _kubernetes_platform(env, allow_context)
    where = context or (platform.k8s.gateway.deploy.context if platform.k8s.gateway.deploy else platform.k8s.contexts()[0])
    parsed = read_trace(trace, max_user_id=platform.spec.model.users - 1)
    job = LoadJob(id=secrets.token_hex(3), workers=workers, trace_name=trace.name, trace=trace.read_bytes(),
                  host=host or in_cluster_gateway(platform, where), speed=speed, duration_s=parsed.duration_s / speed)  # fmt: skip
    folder = run_dir or Path("reports") / time.strftime("load-k8s-%Y%m%d-%H%M%S")
    with err.status(f"load {job.id}: {workers} workers in {where} replaying {trace.name} into {job.host}"):
        path = run_load(platform, job, where, folder, keep=keep)
    frame = read_request_log(path.parent)
    summary = {"request_log": str(path), "requests": len(frame), "ok": int((frame["outcome"] == "ok").sum()),
               "by_region": {str(k): int(v) for k, v in frame["region"].value_counts().items()},
               "workers": sorted({str(w) for w in frame["worker"].unique()})}  # fmt: skip
    if as_json:
        out.print_json(json.dumps(summary))
    else:
        out.print(f"{summary['requests']} requests ({summary['ok']} ok) from {len(summary['workers'])} workers; "
                  f"by region {summary['by_region']}; request log {path}")  # fmt: skip
