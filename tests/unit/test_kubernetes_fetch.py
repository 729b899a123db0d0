"""The model fetch of a Triton pod's init container, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from drillkit.errors import ModelRepositoryError
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.model.fetch import fetch_version, main
from drillkit.model.repository import verify
from tests.fakes.http import serve

PARAMS = ModelParams(items=500, dim=16, users=50, categories=6, vocab_size=100, hash_buckets=512, seed=3)


class _Quiet(SimpleHTTPRequestHandler):
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published model repository (the bucket's content)."""
    root = tmp_path_factory.mktemp("bucket")
    build(root, "v1", PARAMS, created_at="2026-01-01T00:00:00Z")
    return root


@pytest.fixture
def bucket(published: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve a copy of the repository over HTTP; yield (base URL, its folder)."""
    root = tmp_path / "served"
    shutil.copytree(published, root)
    with serve(partial(_Quiet, directory=str(root))) as url:
        yield url, root


def test_a_version_is_downloaded_verified_and_put_in_place(bucket: tuple[str, Path], tmp_path: Path) -> None:
    url, root = bucket
    path = fetch_version(url, "v1", tmp_path / "models")
    assert path == tmp_path / "models" / "v1"
    assert verify(path).sha256 == verify(root / "v1").sha256
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["v1"]  # no temporary left


def test_a_tampered_file_is_refused_and_nothing_is_left(bucket: tuple[str, Path], tmp_path: Path) -> None:
    url, root = bucket
    weights = next((root / "v1" / "weights").glob("*.npy"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelRepositoryError, match=f"v1/weights/{weights.name} does not match its sha256"):
        fetch_version(url, "v1", tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []
    assert main(["--source", url, "--version", "v1", "--dest", str(tmp_path / "models")]) == 2  # the init container fails


def test_a_manifest_pointing_outside_the_version_is_refused(bucket: tuple[str, Path], tmp_path: Path) -> None:
    url, root = bucket
    manifest = json.loads((root / "v1" / "manifest.json").read_text())
    manifest["files"]["../../etc/cron.d/x"] = "0" * 64
    (root / "v1" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelRepositoryError, match="outside the version folder"):
        fetch_version(url, "v1", tmp_path / "models")


def test_a_verified_copy_is_kept_and_a_broken_one_replaced(bucket: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = bucket
    path = fetch_version(url, "v1", tmp_path / "models")
    marker = path / "params.json"
    before = marker.stat().st_mtime_ns
    assert fetch_version(url, "v1", tmp_path / "models") == path and marker.stat().st_mtime_ns == before
    marker.write_text("{}")
    fetch_version(url, "v1", tmp_path / "models")
    verify(path)


def test_a_missing_version_or_source_exits_1(tmp_path: Path, bucket: tuple[str, Path]) -> None:
    url, _ = bucket
    assert main(["--source", url, "--version", "v9", "--dest", str(tmp_path / "m")]) == 1
    assert main(["--source", f"file://{tmp_path}/nothing", "--version", "v1", "--dest", str(tmp_path / "m")]) == 1


def test_up_keeps_a_verified_local_copy_for_the_drills_golden_answers(bucket: tuple[str, Path], tmp_path: Path) -> None:
    from drillkit.platforms.kubernetes import KubernetesPlatform
    from tests.fakes.kube_api import fake_kube
    from tests.fakes.kube_env import CONTEXTS, kube_environment
    from tests.fakes.kube_objects import deployment_controller, statefulset_controller

    url, root = bucket
    with fake_kube() as a, fake_kube() as b:
        for kube in (a, b):
            kube.controllers["StatefulSet"] = statefulset_controller()
            kube.controllers["Deployment"] = deployment_controller
        spec = kube_environment(tmp_path, {CONTEXTS["primary"]: a.url, CONTEXTS["standby"]: b.url}, model_repository={"url": url})
        KubernetesPlatform(spec, poll_s=0.001).up()
    assert verify(spec.state_dir / "models" / "v1").sha256 == verify(root / "v1").sha256
