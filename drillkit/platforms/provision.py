"""Model provisioning for platforms: build a version once, publish it into each region.

The build cache (``<state_dir>/models/<version>``) is verified every time it is used, so a
corrupted or tampered repository is refused before any node starts.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from drillkit.errors import SpecError
from drillkit.model import repository
from drillkit.model.catalog import ModelParams
from drillkit.spec import ModelSpec


def model_params(spec: ModelSpec) -> ModelParams:
    """The model's build parameters from the environment's ``model`` section."""
    return ModelParams(items=spec.items, dim=spec.dim, users=spec.users, seed=spec.seed)


def ensure_built(spec: ModelSpec, root: Path) -> Path:
    """The verified version folder for ``spec``, built on first use."""
    version_dir = root / spec.version
    if not version_dir.exists():
        return repository.build(root, spec.version, model_params(spec), created_at=datetime.now(UTC).isoformat())
    manifest = repository.verify(version_dir)
    if manifest.params != asdict(model_params(spec)):
        raise SpecError(
            str(version_dir / "manifest.json"),
            "model",
            f"version {spec.version} was built with {manifest.params}, the spec asks for {asdict(model_params(spec))}",
            "give the changed model a new `model.version`, or delete the old version folder",
        )
    return version_dir


def publish(version_dir: Path, region_root: Path) -> Path:
    """Publish a fresh copy into a region's repository (replacing what a past run left)."""
    shutil.rmtree(region_root / version_dir.name, ignore_errors=True)
    return repository.publish(version_dir, region_root)
