"""``drillkit up / status / down / smoke``: the environment's life and a quick check of its answers."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from drillkit.cli._app import (
    DEFAULT_ENV,
    AllowOption,
    EnvOption,
    JsonOption,
    app,
    err,
    out,
    platform_of,
)
from drillkit.errors import ExitCode
from drillkit.platforms import Platform, open_platform, require_up
from drillkit.platforms.base import EnvironmentStatus
from drillkit.spec import load_environment


def _platform(env: Path, allow: list[str]) -> Platform:
    return open_platform(load_environment(env), spec_file=str(env), allow_contexts=allow)


@app.command(rich_help_panel="Environment")
def up(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False, allow_context: AllowOption = []) -> None:  # noqa: B006
    """Start the environment and wait until every node serves through the gateway."""
    platform = _platform(env, allow_context)
    with err.status(f"starting environment [bold]{platform.name}[/] (Triton nodes, fault proxy, HAProxy, Prometheus)"):
        status = platform.up()
    _print_status(status, as_json)


@app.command(rich_help_panel="Environment")
def status(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False, allow_context: AllowOption = []) -> None:  # noqa: B006
    """Show every component of the environment, live (attach mode: what the selectors found)."""
    from drillkit.platforms.attached import AttachedPlatform

    platform = _platform(env, allow_context)
    if isinstance(platform, AttachedPlatform):
        _print_discovery(platform, as_json)
        return
    _print_status(platform.status(), as_json)


def _print_discovery(platform: Platform, as_json: bool) -> None:
    """Per region: the pods the selector found, where they run (GPUs), their controller, version and readiness."""
    from drillkit.platforms.attached import AttachedPlatform

    assert isinstance(platform, AttachedPlatform)
    status = platform.status()
    found = [platform.discover(r.name) for r in platform.spec.regions]
    if as_json:
        regions = [{"region": f.region, "context": f.context, "namespace": f.namespace, "selector": f.selector,
                    "controllers": [{"kind": k, "name": n, "replicas": f.replicas.get((k, n), (None, None))[0],
                                     "ready": f.replicas.get((k, n), (None, None))[1]} for k, n in f.controllers()],
                    "hosts": [{"name": h.name, "gpus": h.gpus, "ready": h.ready, "unschedulable": h.unschedulable} for h in f.hosts.values()],
                    "pods": [{"node": node, "pod": x.name, "host": x.host, "health": x.health.value, "version": x.version,
                              "controller": f"{x.controller[0]}/{x.controller[1]}"} for node, x in f.node_pods().items()]}
                   for f in found]  # fmt: skip
        out.print_json(json.dumps({"environment": status.environment, "up": status.up, "gateway_url": status.gateway_url,
                                   "regions": regions}))  # fmt: skip
        return
    out.print(f"environment {status.environment} (kubernetes, attached): {'attached' if status.up else 'not attached (drillkit up)'}")
    for f in found:
        controllers = ", ".join(f"{k} {n} ({f.replicas[(k, n)][1]}/{f.replicas[(k, n)][0]} ready)" if (k, n) in f.replicas else f"{k} {n}"
                                for k, n in f.controllers())  # fmt: skip
        table = Table(title=f"{f.region}: {f.context}/{f.namespace}, selector {escape(','.join(f'{k}={v}' for k, v in f.selector.items()))}; "
                            f"{escape(controllers)}", title_justify="left")  # fmt: skip
        for column in ("node", "pod", "health", "host", "GPUs", "version"):
            table.add_column(column)
        for node, x in f.node_pods().items():
            host = f.hosts.get(x.host or "")
            style = {"ready": "green", "dead": "red"}.get(x.health.value, "yellow")
            table.add_row(node, escape(x.name), f"[{style}]{x.health.value}[/]", escape(x.host or "-"),
                          str(host.gpus) if host else "-", escape(x.version or "-"))  # fmt: skip
        out.print(table)
    out.print(f"gateway {status.gateway_url}   prometheus {status.prometheus_url}")


@app.command(rich_help_panel="Environment")
def down(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False, allow_context: AllowOption = []) -> None:  # noqa: B006
    """End exactly what `up` started (also after the CLI was killed)."""
    from drillkit.platforms.attached import NOTHING_TO_STOP, AttachedPlatform

    platform = _platform(env, allow_context)
    stopped = platform.down()
    attached = isinstance(platform, AttachedPlatform)
    if as_json:
        out.print_json(json.dumps({"stopped": stopped} | ({"note": NOTHING_TO_STOP} if attached else {})))
    elif attached:
        out.print(NOTHING_TO_STOP)
    else:
        out.print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")


@app.command(rich_help_panel="Environment")
def smoke(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Send the model version's golden probes through the gateway; judge the answers by the golden rules."""
    from drillkit.smoke import probe_gateway

    platform = platform_of(env)
    status = require_up(platform)
    results = probe_gateway(status.gateway_url or "", platform.spec)
    if as_json:
        out.print_json(json.dumps([r.as_dict() for r in results]))
    else:
        out.print(_probe_table(results))
    if not all(r.ok for r in results):
        raise typer.Exit(ExitCode.DRILL_FAILED)


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
    if status.try_timeouts_ms:
        out.print("per-try timeouts: " + ", ".join(f"{m} {ms} ms" for m, ms in sorted(status.try_timeouts_ms.items())))


def _probe_table(results: list) -> Table:  # type: ignore[type-arg]
    table = Table(title="golden probes through the gateway", title_justify="left")
    for column in ("model", "request", "served by", "latency ms", "result"):
        table.add_column(column)
    for r in results:
        verdict = "[green]match[/]" if r.ok else f"[red]{escape(r.error or r.wrong or 'mismatch')}[/]"
        table.add_row(r.model, r.request, f"{r.region or '?'}/{r.node or '?'}", f"{r.latency_ms:.1f}", verdict)
    return table


