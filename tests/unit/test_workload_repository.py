"""A user's Triton repository: read, refused where the bundled server cannot run it, snapshot as a version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drillkit.errors import SpecError
from drillkit.model.repository import verify
from drillkit.workload.node import NodePlan, command
from drillkit.workload.repository import check_local, differs, scan, snapshot

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ranker-repository"


def test_the_fixture_reads_with_its_tensors() -> None:
    [ranker] = scan(FIXTURE)
    assert (ranker.name, ranker.backend, ranker.max_batch_size, ranker.versions) == ("ranker", "python", 64, ("1",))
    assert [(t.name, t.datatype, t.dims) for t in ranker.inputs] == [("features", "FP32", (16,))]
    assert [t.name for t in ranker.outputs] == ["score", "top_features"]
    check_local([ranker], "env.yaml")


def test_a_backend_the_bundled_server_lacks_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "onnx" / "1").mkdir(parents=True)
    (tmp_path / "onnx" / "config.pbtxt").write_text('name: "onnx"\nbackend: "onnxruntime"\n')
    with pytest.raises(SpecError, match="uses the onnxruntime backend.*platform: kubernetes with your own Triton image"):
        check_local(scan(tmp_path), "env.yaml")


@pytest.mark.parametrize(
    ("config", "problem"),
    [('name: "other"\nbackend: "python"\n', "differs from its folder"), ("name: [oops", "is not a Triton model config")],
)
def test_a_bad_config_is_refused_naming_the_file(tmp_path: Path, config: str, problem: str) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text(config)
    with pytest.raises(SpecError, match=problem) as info:
        scan(tmp_path)
    assert "config.pbtxt" in str(info.value)


def test_a_link_in_the_repository_is_refused(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "repo")
    (tmp_path / "repo" / "ranker" / "1" / "secret").symlink_to("/etc/hostname")
    with pytest.raises(SpecError, match="is a symbolic link"):
        scan(tmp_path / "repo")


def test_a_snapshot_verifies_and_knows_when_its_source_changed(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "repo")
    version = snapshot(tmp_path / "repo", tmp_path / "models", "r1", created_at="t")
    manifest = verify(version)
    assert (manifest.workload, manifest.models) == ("triton", ("ranker",))
    assert "repository/ranker/1/model.py" in manifest.files
    assert differs(version, tmp_path / "repo") is None
    (tmp_path / "repo" / "ranker" / "1" / "weights.json").write_text("{}")
    assert differs(version, tmp_path / "repo") == "ranker/1/weights.json"


def test_a_node_refuses_a_damaged_version_in_its_own_process_and_never_starts_the_server(tmp_path: Path) -> None:
    version = snapshot(FIXTURE, tmp_path / "models", "r1", created_at="2026-12-07T00:00:00Z")
    (version / "repository" / "ranker" / "1" / "weights.json").write_text("{}")  # damaged after its manifest
    plan = NodePlan(repository=tmp_path / "models", version="r1", node="us-east-1-0", http_port=1, grpc_port=2,
                    metrics_port=3, workspace=tmp_path / "workspace")  # fmt: skip
    wrapper, server, env = command(plan, os.environ, sys.executable)
    assert server[0].endswith("/tritonserver") and "--model-repository" in server and "127.0.0.1" in server
    marker = tmp_path / "server-started"
    done = subprocess.run([*wrapper, shutil.which("touch") or "/usr/bin/touch", str(marker)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "refusing model r1" in done.stderr and "weights.json" in done.stderr
    assert not marker.exists() and not (tmp_path / "workspace").exists()
    (version / "repository" / "ranker" / "1" / "weights.json").write_text((FIXTURE / "ranker" / "1" / "weights.json").read_text())
    done = subprocess.run([*wrapper, shutil.which("touch") or "/usr/bin/touch", str(marker)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and marker.exists(), done.stderr  # verified: it became the command after --
    assert (tmp_path / "workspace" / "repository" / "ranker" / "config.pbtxt").is_file()
    assert (tmp_path / "workspace" / "backends" / "python" / "triton_python_backend_stub").is_file()


def test_model_build_snapshots_the_workloads_repository_or_a_new_export_as_a_version(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(f"name: ranker\nstate_dir: {tmp_path / 'state'}\nmodel: {{version: r1}}\nworkload: {{repository: {FIXTURE}}}\n"
                   "regions:\n  - {name: us-east-1, role: primary}\n  - {name: eu-west-1, role: standby}\n")  # fmt: skip
    export = tmp_path / "export"
    shutil.copytree(FIXTURE, export)
    (export / "ranker" / "1" / "weights.json").write_text('{"weights": [0.5], "bias": 1.0}')  # a retrained export

    def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "drillkit", "model", "build", "--env", str(env), *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert drillkit().returncode == 0 and drillkit("--version", "r2", "--repository", str(export)).returncode == 0
    models = tmp_path / "state" / "models"
    assert verify(models / "r1").workload == verify(models / "r2").workload == "triton"
    assert differs(models / "r1", FIXTURE) is None and differs(models / "r2", export) is None
    assert verify(models / "r1").sha256 != verify(models / "r2").sha256
    again = drillkit("--version", "r2", "--repository", str(FIXTURE))  # r2 exists and is another snapshot
    assert again.returncode == 2 and "differs from it now" in again.stderr and "Traceback" not in again.stderr
    seeded = drillkit("--version", "r3", "--seed", "9")
    assert seeded.returncode == 2 and "--seed" in seeded.stderr and "--repository" in seeded.stderr
    assert not (models / "r3").exists()
    builtin = tmp_path / "builtin.yaml"
    builtin.write_text(env.read_text().replace(f"workload: {{repository: {FIXTURE}}}\n", ""))
    refused = subprocess.run([sys.executable, "-m", "drillkit", "model", "build", "--env", str(builtin), "--repository", str(export)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "serves the built-in recommender" in refused.stderr
