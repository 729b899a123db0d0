"""A single Triton node refuses a repository that fails its manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drillkit.model.catalog import ModelParams
from drillkit.model.node import REFUSED, node_command, node_environment
from drillkit.model.repository import build

pytestmark = pytest.mark.integration


def test_a_node_refuses_a_tampered_repository_before_starting_triton(tmp_path: Path) -> None:
    version = build(tmp_path / "repo", "v1", ModelParams(items=300, users=20, dim=8), created_at="x")
    (version / "catalog" / "items.parquet").write_bytes(b"tampered")
    command = node_command(
        sys.executable, repository=tmp_path / "repo", version="v1", region="primary", node="primary-0",
        http_port=1, grpc_port=2, metrics_port=3, device="cpu", max_batch_size=8, max_queue_delay_us=100,
        workspace=tmp_path / "ws",
    )  # fmt: skip
    done = subprocess.run(command, env=node_environment({}), capture_output=True, text=True, timeout=60)
    assert done.returncode == REFUSED
    assert "drillkit node primary/primary-0: refusing to serve" in done.stderr
    assert "items.parquet does not match its sha256" in done.stderr
    assert not (tmp_path / "ws").exists()


def test_node_environment_puts_libpython_on_the_loader_path() -> None:
    import sysconfig

    env = node_environment({"LD_LIBRARY_PATH": "/opt/x"})
    parts = env["LD_LIBRARY_PATH"].split(":")
    assert parts[0] == sysconfig.get_config_var("LIBDIR") and parts[-1] == "/opt/x"
