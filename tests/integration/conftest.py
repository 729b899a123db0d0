"""Shared fixtures of the integration tests: a real 2x2 stack on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from drillkit.platforms.local import LocalPlatform
from drillkit.spec import EnvironmentSpec, GatewaySpec, ModelSpec, RegionRole, RegionSpec


def make_spec(state_dir: Path, *, name: str = "itest", gateway_port: int | None = None,
              regions: tuple[str, str] = ("primary", "standby")) -> EnvironmentSpec:  # fmt: skip
    """A 2x2 environment with a smaller model (faster to build, same code paths)."""
    return EnvironmentSpec(
        name=name,
        state_dir=state_dir,
        regions=(
            RegionSpec(name=regions[0], role=RegionRole.PRIMARY, nodes=2),
            RegionSpec(name=regions[1], role=RegionRole.STANDBY, nodes=2),
        ),
        gateway=GatewaySpec(port=gateway_port),
        model=ModelSpec(items=20_000, users=10_000),
    )


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """A stack for one test module, always brought down after it."""
    platform = LocalPlatform(make_spec(tmp_path_factory.mktemp("state")))
    platform.up()
    try:
        yield platform
    finally:
        platform.down()


@contextmanager
def running_from_file(spec: EnvironmentSpec, folder: Path) -> Iterator[tuple[LocalPlatform, Path]]:
    """``spec`` written to ``folder/env.yaml`` and up, as a user's environment file is: drills and
    the CLI read the file; always brought down after."""
    env_file = folder / "env.yaml"
    env_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    platform = LocalPlatform(spec, spec_file=str(env_file))
    platform.up()
    try:
        yield platform, env_file
    finally:
        platform.down()
