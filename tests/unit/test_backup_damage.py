"""Data faults on a repository folder, the atomic folder switch, and YAML experiments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import yaml

from drillkit.backup.damage import corrupt_weights, destroy_repository
from drillkit.backup.swap import install_dir
from drillkit.errors import ModelRepositoryError, SpecError
from drillkit.model.repository import verify
from drillkit.plan import load_experiment

if TYPE_CHECKING:
    from tests.unit.backup_fixtures import MakeRepo

pytest_plugins = ["tests.unit.backup_fixtures"]  # the repositories and both stores

REPO = Path(__file__).resolve().parents[2]


def test_destroy_deletes_every_version_and_says_which(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "models", "v1", "v2")
    assert destroy_repository(repo) == ["v1", "v2"] and not repo.exists()
    assert destroy_repository(repo) == []  # nothing left: not an error


def test_corrupted_weights_still_load_but_fail_the_manifest(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "models", "v1")
    before = np.load(repo / "v1/weights/item_embeddings.npy")
    files = corrupt_weights(repo / "v1", flips=16)
    assert "v1/weights/item_embeddings.npy" in files and len(files) == len(list((repo / "v1/weights").glob("*.npy")))
    after = np.load(repo / "v1/weights/item_embeddings.npy")  # the header is intact: only the checksum catches it
    assert after.shape == before.shape and not np.array_equal(after, before, equal_nan=True)
    with pytest.raises(ModelRepositoryError, match="does not match its sha256"):
        verify(repo / "v1")


def test_a_fresh_folder_replaces_a_live_one_atomically(tmp_path: Path) -> None:
    live, fresh = tmp_path / "models", tmp_path / ".models.restore-x"
    for folder, text in ((live, "old"), (fresh, "new")):
        (folder / "v1").mkdir(parents=True)
        (folder / "v1" / "f").write_text(text)
    install_dir(fresh, live)
    assert (live / "v1" / "f").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    again = tmp_path / ".models.restore-y"
    (again / "v2").mkdir(parents=True)
    install_dir(again, tmp_path / "gone")  # the live folder was deleted: a plain rename
    assert (tmp_path / "gone" / "v2").is_dir() and not again.exists()


def test_yaml_experiments_are_read_and_validated_like_json(tmp_path: Path) -> None:
    env = REPO / "drills/environments/backup-local.yaml"
    experiment = load_experiment(REPO / "chaos/data-loss-restore.yaml", env)
    funcs = [a["provider"]["func"] for a in experiment["method"]]
    assert funcs == ["destroy_model_repository", "serving_region", "restore_model_repository"]
    broken = tmp_path / "x.yaml"
    broken.write_text("title: [unclosed\n")
    with pytest.raises(SpecError, match=r"x\.yaml: line \d+: not valid YAML"):
        load_experiment(broken, env)
    bad = yaml.safe_load((REPO / "chaos/corrupt-weights.yaml").read_text())
    bad["method"][0]["provider"]["arguments"]["flipz"] = 3
    typo = tmp_path / "typo.yml"
    typo.write_text(json.dumps(bad))  # JSON is YAML too
    with pytest.raises(SpecError, match="flipz"):
        load_experiment(typo, env)
