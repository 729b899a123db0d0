"""A user's Triton repository: read, refused where the bundled server cannot run it, snapshot as a version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drillkit.errors import SpecError
from drillkit.model.repository import verify
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
