"""The typer app, the consoles and the options every command group shares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drillkit.platforms import Platform, open_platform
from drillkit.spec import load_environment

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Disaster-recovery drills for a two-region Triton recommender.")

out = Console()
err = Console(stderr=True)

DEFAULT_ENV = "drills/environments/local.yaml"
EnvOption = Annotated[
    Path,
    typer.Option("--env", "-e", envvar="DRILLKIT_ENV", help="Environment spec (YAML).", show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AllowOption = Annotated[
    list[str],
    typer.Option("--allow-context", metavar="NAME", help="Kubernetes: touch this context although its name looks like production (repeatable)."),
]


def allow_in_process(names: list[str]) -> None:
    """Let a drill touch production-looking contexts: its runner and the Chaos Toolkit
    activities it runs in-process both read ``$DRILLKIT_ALLOW_CONTEXTS``."""
    if names:
        from drillkit.platforms.k8s.clusters import ALLOW_ENV, allowed_from_environment

        os.environ[ALLOW_ENV] = ",".join([*allowed_from_environment(), *names])


def platform_of(env: Path) -> Platform:
    """The platform of the environment file ``env``."""
    return open_platform(load_environment(env), spec_file=str(env))
