"""``drillkit model build / verify / publish``: model repository versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drillkit.cli._app import DEFAULT_ENV, EnvOption, app, out, platform_of
from drillkit.errors import SpecError
from drillkit.spec import load_environment, model_cache

model_app = typer.Typer(no_args_is_help=True, help="Build, verify and publish model repository versions.")
app.add_typer(model_app, name="model", rich_help_panel="Model")

@model_app.command("build")
def model_build(
    env: EnvOption = Path(DEFAULT_ENV),
    root: Annotated[Path | None, typer.Option(help="Repository root (default: <state_dir>/models).")] = None,
    version: Annotated[str | None, typer.Option(help="Build this version name instead of model.version (e.g. v2).")] = None,
    seed: Annotated[int | None, typer.Option(help="Built-in recommender: seed instead of model.seed (a retrained model).")] = None,
    shuffle_permille: Annotated[int, typer.Option(min=0, max=1000, help="Built-in recommender: give this share of the items "
                                                  "(per mille) another item's embedding: a release that answers fast but wrong.")] = 0,
    slowdown: Annotated[int, typer.Option(min=1, max=100, help="Built-in recommender: score every item this many times: "
                                          "a release that answers the same, that much slower.")] = 1,
    repository: Annotated[Path | None, typer.Option(help="Your workload: snapshot this Triton repository instead of "
                                                         "workload.repository (e.g. a new export).")] = None,
) -> None:
    """Build the environment's model version into a repository (skipped when it exists and verifies):
    the built-in recommender, or a verified snapshot of your Triton repository."""
    from drillkit.platforms.provision import ensure_built, ensure_version

    spec = load_environment(env)
    if spec.workload.is_builtin:
        if repository is not None:
            raise SpecError("command line", "--repository", f"{env} serves the built-in recommender, not a Triton repository",
                            "set workload.repository in the environment, or leave --repository out")  # fmt: skip
        changes = {k: v for k, v in (("version", version), ("seed", seed)) if v is not None}
        model = spec.model.model_validate({**spec.model.model_dump(), **changes}) if changes else spec.model
        path = ensure_built(model, root or model_cache(spec), shuffled_permille=shuffle_permille, work=slowdown)
        out.print(f"model {model.version} ready at {path}")
        return
    if seed is not None or shuffle_permille or slowdown != 1:
        raise SpecError("command line", "--seed / --shuffle-permille / --slowdown",
                        "these rebuild the built-in recommender; your model is a Triton repository",
                        "export your model again and pass its repository with --repository (and a new --version)")  # fmt: skip
    model = spec.model.model_validate({**spec.model.model_dump(), "version": version or spec.model.version})
    workload = spec.workload.model_copy(update={"repository": repository or spec.workload.repository})
    path = ensure_version(spec.model_copy(update={"model": model, "workload": workload}), root or model_cache(spec), source=str(env))
    out.print(f"model {model.version} ready at {path} (a snapshot of {workload.repository})")


@model_app.command("verify")
def model_verify(version_dir: Path) -> None:
    """Check a version folder against its manifest (sha256 of every file)."""
    from drillkit.model.repository import verify

    manifest = verify(version_dir)
    out.print(f"{version_dir}: OK ({len(manifest.files)} files, version {manifest.version})")


@model_app.command("publish")
def model_publish(
    version_dir: Path,
    dest_root: Annotated[Path | None, typer.Argument(help="Repository to publish into (default: the environment's regions).")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Region of --env to publish into (repeatable; default: all).")] = None,
    env: EnvOption = Path(DEFAULT_ENV),
) -> None:
    """Copy a verified version into a repository, or into the regions of an environment (atomic; verified).

    A region's repository gains the version as data (backed up, restorable, losable); its
    nodes keep serving the environment's ``model.version``.
    """
    from drillkit.model.repository import publish

    if dest_root is not None:
        out.print(f"published to {publish(version_dir, dest_root)}")
        return
    platform = platform_of(env)
    for name in region or [r.name for r in platform.spec.regions]:
        out.print(f"published to {publish(version_dir, platform.region_repository(name))}")


