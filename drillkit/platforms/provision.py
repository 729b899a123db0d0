"""Model provisioning for platforms: build a version once, publish it into each region.

The build cache (``<state_dir>/models/<version>``) is verified every time it is used, so a
corrupted or tampered repository is refused before any node starts.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from drillkit.errors import SpecError
from drillkit.model import repository
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.spec import EnvironmentSpec, ModelSpec
from drillkit.workload import repository as triton_repository


def model_params(spec: ModelSpec) -> ModelParams:
    """The model's build parameters from the environment's ``model`` section."""
    return ModelParams(items=spec.items, dim=spec.dim, users=spec.users, seed=spec.seed)


def ensure_built(spec: ModelSpec, root: Path, **variant: int) -> Path:
    """The verified version folder for ``spec``, built on first use. ``variant`` sets model
    parameters that make another release of the same model (``shuffled_permille``, ``work``)."""
    version_dir = root / spec.version
    params = replace(model_params(spec), **variant)
    if not version_dir.exists():
        return build(root, spec.version, params, created_at=datetime.now(UTC).isoformat())
    manifest = repository.verify(version_dir)
    if asdict(manifest.model_params()) != asdict(params):
        raise SpecError(
            str(version_dir / "manifest.json"),
            "model",
            f"version {spec.version} was built with {manifest.params}, this asks for {asdict(params)}",
            "give the changed model a new version name, or delete the old version folder",
        )
    return version_dir


def ensure_version(env: EnvironmentSpec, root: Path, *, source: str = "") -> Path:
    """The verified version folder of the environment's workload: the built-in recommender built
    on first use, or a snapshot of the user's Triton repository taken on first use (``source``:
    the environment file, named in errors)."""
    if env.workload.is_builtin:
        return ensure_built(env.model, root)
    assert env.workload.repository is not None
    where = source or "workload.repository"
    models = triton_repository.scan(env.workload.repository, source=where)
    if env.platform == "local":
        triton_repository.check_local(models, where)
    version_dir = root / env.model.version
    if not version_dir.exists():
        return triton_repository.snapshot(env.workload.repository, root, env.model.version,
                                          created_at=datetime.now(UTC).isoformat(), where=where)  # fmt: skip
    changed = triton_repository.differs(version_dir, env.workload.repository)
    if changed is not None:
        raise SpecError(
            str(version_dir / "manifest.json"), "workload.repository",
            f"version {env.model.version} is a snapshot of {env.workload.repository} that differs from it now (at {changed})",
            "give the changed repository a new `model.version`, or delete the old version folder",
        )  # fmt: skip
    return version_dir


def publish(version_dir: Path, region_root: Path) -> Path:
    """Publish a fresh copy into a region's repository (replacing what a past run left)."""
    shutil.rmtree(region_root / version_dir.name, ignore_errors=True)
    return repository.publish(version_dir, region_root)
