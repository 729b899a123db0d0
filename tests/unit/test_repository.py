"""The model repository: the manifest catches every kind of damage; publish is atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillkit.errors import ModelRepositoryError
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.model.repository import PROBES, publish, verify, versions

PARAMS = ModelParams(items=500, dim=16, users=50, categories=6, vocab_size=100, hash_buckets=512, seed=3)


@pytest.fixture
def version(tmp_path: Path) -> Path:
    return build(tmp_path / "repo", "v1", PARAMS, created_at="2026-11-22T00:00:00Z")


def test_a_built_version_verifies_with_golden_answers(version: Path) -> None:
    manifest = verify(version)
    assert manifest.version == "v1" and manifest.params["items"] == 500
    assert len(manifest.golden.recommend) == PROBES and len(manifest.golden.search) == PROBES
    assert all(len(p.item_ids) == p.k for p in manifest.golden.recommend)
    assert {"params.json", "weights/item_embeddings.npy", "catalog/items.parquet"} <= set(manifest.files)
    assert versions(version.parent) == ["v1"]


def test_a_flipped_byte_is_refused_naming_the_file(version: Path) -> None:
    target = version / "weights" / "user_embeddings.npy"
    data = bytearray(target.read_bytes())
    data[200] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ModelRepositoryError, match=r"user_embeddings\.npy does not match its sha256.*drillkit model build"):
        verify(version)


def test_a_missing_file_is_refused(version: Path) -> None:
    (version / "catalog" / "names.json").unlink()
    with pytest.raises(ModelRepositoryError, match=r"names\.json is missing"):
        verify(version)


def test_an_extra_file_is_refused(version: Path) -> None:
    (version / "weights" / "backdoor.npy").write_bytes(b"x")
    with pytest.raises(ModelRepositoryError, match=r"backdoor\.npy is not in"):
        verify(version)


@pytest.mark.parametrize("text", ["{not json", json.dumps({"format": 99, "files": {}})])
def test_a_corrupt_manifest_is_refused(version: Path, text: str) -> None:
    (version / "manifest.json").write_text(text)
    with pytest.raises(ModelRepositoryError, match="not a valid manifest"):
        verify(version)


def test_a_folder_without_manifest_is_not_a_version(tmp_path: Path) -> None:
    with pytest.raises(ModelRepositoryError, match="manifest.json is missing"):
        verify(tmp_path)


def test_publish_copies_verifies_and_is_idempotent(version: Path, tmp_path: Path) -> None:
    target = publish(version, tmp_path / "region")
    assert verify(target).sha256 == verify(version).sha256
    assert publish(version, tmp_path / "region") == target
    assert [p.name for p in (tmp_path / "region").iterdir()] == ["v1"]  # no temporaries left


def test_publish_refuses_a_damaged_source_and_leaves_nothing(version: Path, tmp_path: Path) -> None:
    (version / "params.json").write_text("{}")
    with pytest.raises(ModelRepositoryError):
        publish(version, tmp_path / "region")
    assert not (tmp_path / "region" / "v1").exists()


def test_build_refuses_to_overwrite_a_version(version: Path) -> None:
    with pytest.raises(ModelRepositoryError, match="already exists"):
        build(version.parent, "v1", PARAMS, created_at="x")
