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
    """Show every component of the environment, live."""
    _print_status(_platform(env, allow_context).status(), as_json)


@app.command(rich_help_panel="Environment")
def down(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False, allow_context: AllowOption = []) -> None:  # noqa: B006
    """End exactly what `up` started (also after the CLI was killed)."""
    stopped = _platform(env, allow_context).down()
    if as_json:
        out.print_json(json.dumps({"stopped": stopped}))
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


