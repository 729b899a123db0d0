"""The typer app, the consoles and the options every command group shares."""

from __future__ import annotations

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


def platform_of(env: Path) -> Platform:
    """The platform of the environment file ``env``."""
    return open_platform(load_environment(env), spec_file=str(env))
