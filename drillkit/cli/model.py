"""``drillkit model build / verify / publish``: model repository versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drillkit.cli._app import DEFAULT_ENV, EnvOption, app, out
from drillkit.spec import load_environment

model_app = typer.Typer(no_args_is_help=True, help="Build, verify and publish model repository versions.")
app.add_typer(model_app, name="model", rich_help_panel="Model")

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


