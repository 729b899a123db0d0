"""The ``drillkit`` command line: parse, call the library, print (rich tables or ``--json``).

Exit codes are ``drillkit.errors.ExitCode`` (listed in the README).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drillkit.errors import DrillkitError, ExitCode
from drillkit.platforms.base import EnvironmentStatus
from drillkit.platforms.local import LocalPlatform, require_up
from drillkit.spec import load_environment

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Disaster-recovery drills for a two-region Triton recommender.")
model_app = typer.Typer(no_args_is_help=True, help="Build, verify and publish model repository versions.")
app.add_typer(model_app, name="model")

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
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.INVALID_INPUT))
    except (KeyboardInterrupt, click.exceptions.Abort):
        err.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    sys.exit(code if isinstance(code, int) else int(ExitCode.OK))


if __name__ == "__main__":
    main()
