"""`up` under bad conditions: it fails clearly and leaves nothing running."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from drillkit.errors import MissingDependencyError, ModelRepositoryError, StartupError
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.provision import ensure_built
from drillkit.spec import EnvironmentSpec, ModelSpec, RegionRole, RegionSpec

pytestmark = pytest.mark.integration


def small_spec(state_dir: Path) -> EnvironmentSpec:
    return EnvironmentSpec(
        name="fail",
        state_dir=state_dir,
        regions=(
            RegionSpec(name="primary", role=RegionRole.PRIMARY, nodes=1),
            RegionSpec(name="standby", role=RegionRole.STANDBY, nodes=1),
        ),
        model=ModelSpec(items=2_000, users=200),
    )


def test_missing_haproxy_names_make_setup_and_starts_nothing(tmp_path: Path) -> None:
    platform = LocalPlatform(small_spec(tmp_path), which=lambda name: None if name == "haproxy" else shutil.which(name))
    with pytest.raises(MissingDependencyError, match=r"haproxy not found on PATH: run `make setup`"):
        platform.up()
    assert not platform.state_path.exists()


def test_a_corrupted_model_repository_is_refused_before_any_node_starts(tmp_path: Path) -> None:
    spec = small_spec(tmp_path)
    version_dir = ensure_built(spec.model, tmp_path / "models")
    weights = sorted((version_dir / "weights").iterdir())[0]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    platform = LocalPlatform(spec)
    with pytest.raises(ModelRepositoryError, match=weights.name):
        platform.up()
    assert not platform.state_path.exists()
    assert not (platform.root / "logs").exists() or not any((platform.root / "logs").iterdir())


def test_a_node_that_dies_at_start_fails_up_with_its_log_and_stops_the_rest(tmp_path: Path) -> None:
    # A real interpreter for every node but standby-0, which dies like a node whose GPU
    # initialisation failed.
    wrapper = tmp_path / "python"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"--node standby-0"*) echo "CUDA error: no CUDA-capable device is detected" >&2; exit 3;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    platform = LocalPlatform(small_spec(tmp_path), python=str(wrapper))
    started: list = []
    with pytest.raises(StartupError) as caught:
        platform.up()
    message = str(caught.value)
    assert "node standby-0 exited during start-up" in message
    assert "no CUDA-capable device" in message
    assert not platform.state_path.exists()
    for log in (platform.root / "logs").glob("*.log"):
        started.append(log.stem)
    assert "primary-0" in started  # the other node did start, and was stopped again:
    assert _processes_with(str(platform.root)) == []


def _processes_with(text: str) -> list[int]:
    """PIDs whose command line mentions ``text`` (this test's own state folder)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(proc.name))
    return pids
