"""Hostile backup stores and model versions: nothing is written or read outside its folder.

Each store here is forged by hand (objects and a manifest written straight into a folder),
as someone with write access to the store would, so no model needs building.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.errors import BackupRefused, RestoreFailed
from drillkit.backup.manifest import BackupManifest, FileEntry, Source, manifest_key, object_key
from drillkit.backup.restore import restore_region
from drillkit.backup.store import BackupStore
from drillkit.errors import ExitCode, ModelRepositoryError, SpecError
from drillkit.model.catalog import ModelParams
from drillkit.model.repository import verify

ID = "20260101T120000.000Z-ab12"
CONTENT = b"attacker's bytes\n"
SHA = hashlib.sha256(CONTENT).hexdigest()


def forged_manifest(**changes: Any) -> dict[str, Any]:
    """A manifest that validates, with ``changes`` applied (``files`` replaces the list)."""
    manifest = {
        "format": 1, "id": ID, "created_at": 1.0, "committed_at": 2.0,
        "source": {"environment": "test", "region": "primary"},
        "versions": {"v1": SHA}, "files": [{"path": "v1/manifest.json", "sha256": SHA, "size": len(CONTENT)}],
        "bytes": len(CONTENT), "new_objects": 1, "new_bytes": len(CONTENT),
    }  # fmt: skip
    return {**manifest, **changes}


def forge_store(root: Path, manifest: dict[str, Any]) -> BackupStore:
    blobs = LocalBlobs(root)
    blobs.put_bytes(object_key(SHA), CONTENT)
    blobs.put_bytes(manifest_key(str(manifest["id"])), json.dumps(manifest).encode())
    return BackupStore(blobs)


def entry(path: str) -> dict[str, Any]:
    return {"path": path, "sha256": SHA, "size": len(CONTENT)}


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("path", ["v1/../../escaped", "v1/../../../escaped", "ABSOLUTE"])
def test_a_manifest_path_that_leaves_the_destination_is_refused_and_nothing_is_written(tmp_path: Path, path: str) -> None:
    escaped = tmp_path / "escaped"
    path = str(escaped) if path == "ABSOLUTE" else path
    store = forge_store(tmp_path / "store", forged_manifest(files=[entry(path)]))
    dest = tmp_path / "restore" / "dest"
    with pytest.raises(BackupRefused, match="not a plain relative path"):
        store.fetch(store.get(ID), dest)
    assert not escaped.exists() and not dest.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"files": [{**entry("v1/manifest.json"), "size": -1}]}, "greater than or equal to 0"),
        ({"files": [{**entry("v1/manifest.json"), "sha256": SHA.upper()}]}, "should match pattern"),
        ({"files": [{**entry("v1/manifest.json"), "sha256": "../../x"}]}, "should match pattern"),
        ({"files": [entry("v1/manifest.json"), entry("v1/manifest.json")]}, "listed twice"),
        ({"files": [entry("v1/a\nb")]}, "control character"),
        ({"files": [entry("v1/./manifest.json")]}, "part '.' is not allowed"),
        ({"files": [entry("v1//manifest.json")]}, "part '' is not allowed"),
        ({"files": [entry("v2/manifest.json")]}, "not inside a listed version"),
        ({"versions": {"../v1": SHA}}, "not a plain relative path"),
        ({"created_at": -5.0}, "greater than or equal to 0"),
        ({"format": 2}, "Input should be 1"),
    ],
)
def test_a_forged_manifest_field_is_refused_naming_it(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    store = forge_store(tmp_path / "store", forged_manifest(**change))
    with pytest.raises(BackupRefused, match=message):
        store.get(ID)
    assert store.list() == []  # never "latest"
    [result] = store.verify()
    assert not result.ok and message.split()[0] in result.problems[0].reason


def test_a_manifest_stored_under_another_id_is_refused(tmp_path: Path) -> None:
    store = forge_store(tmp_path / "store", forged_manifest())
    other = "20260101T120000.000Z-cd34"
    store.blobs.put_bytes(manifest_key(other), store.blobs.get_bytes(manifest_key(ID)))
    with pytest.raises(BackupRefused, match=f"says it is backup {ID}"):
        store.get(other)


@pytest.mark.parametrize("backup_id", ["../../etc/passwd", "x/../y", "latest\n"])
def test_a_backup_id_that_is_not_an_id_is_an_input_error(tmp_path: Path, backup_id: str) -> None:
    store = forge_store(tmp_path / "store", forged_manifest())
    with pytest.raises(SpecError, match="is not a backup id") as raised:
        store.get(backup_id)
    assert raised.value.exit_code is ExitCode.INVALID_INPUT
    with pytest.raises(SpecError, match="is not a backup id"):
        store.verify(backup_id)


def test_fetch_confines_every_write_even_for_a_manifest_that_skipped_validation(tmp_path: Path) -> None:
    store = forge_store(tmp_path / "store", forged_manifest())
    bad = FileEntry.model_construct(path="v1/../../escaped", sha256=SHA, size=len(CONTENT))
    unchecked = BackupManifest.model_construct(**{**store.get(ID).__dict__, "files": (bad,)})
    with pytest.raises(BackupRefused, match="v1/../../escaped"):
        store.fetch(unchecked, tmp_path / "restore" / "dest")
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("planted", ["folder", "file"])
def test_a_symlink_planted_under_the_destination_does_not_redirect_the_write(tmp_path: Path, planted: str) -> None:
    store = forge_store(tmp_path / "store", forged_manifest())
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    (outside / "manifest.json").write_text("precious")
    (dest / "v1").mkdir(parents=True) if planted == "file" else dest.mkdir()
    link, target = (dest / "v1", outside) if planted == "folder" else (dest / "v1" / "manifest.json", outside / "manifest.json")
    link.symlink_to(target)
    with pytest.raises(BackupRefused, match="refused to write it"):
        store.fetch(store.get(ID), dest)
    assert (outside / "manifest.json").read_text() == "precious"


class _Platform:
    """Just enough of a platform for the staging step of a restore (it refuses before Triton)."""

    def __init__(self, live: Path) -> None:
        self.live = live
        self.spec = SimpleNamespace(model=SimpleNamespace(version="v1"))

    def region_repository(self, region: str) -> Path:
        return self.live


def test_a_refused_restore_leaves_nothing_behind_even_through_a_planted_staging_link(tmp_path: Path) -> None:
    store = forge_store(tmp_path / "store", forged_manifest())
    live, outside = tmp_path / "regions" / "primary" / "models", tmp_path / "outside"
    live.parent.mkdir(parents=True)
    outside.mkdir()
    staging = live.with_name(f".models.restore-{ID}")
    staging.symlink_to(outside)  # the staging name is predictable: someone plants a link there
    with pytest.raises(RestoreFailed, match="not a valid manifest"):  # the forged v1 is no model version
        restore_region(_Platform(live), store, "primary", backup_id=ID)  # type: ignore[arg-type]
    assert files_under(outside) == [] and not staging.exists() and not staging.is_symlink()
    assert files_under(live.parent) == []


def test_a_store_path_that_is_a_regular_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "store").write_text("not a folder")
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    with pytest.raises(SpecError, match="is not a folder") as raised:
        store.list()
    assert raised.value.exit_code is ExitCode.INVALID_INPUT


def test_objects_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    store = forge_store(tmp_path / "store", forged_manifest())
    objects = tmp_path / "store" / "objects"
    for path in sorted(objects.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    objects.rmdir()
    objects.write_text("not a folder")
    with pytest.raises(SpecError, match="objects: backup.store.path: is not a folder"):
        store.verify()
    with pytest.raises(SpecError, match="is not a folder"):
        store.fetch(store.get(ID), tmp_path / "dest")


def test_an_object_planted_as_a_symlink_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(CONTENT)  # its real sha256 is listed: only the link gives it away
    store = forge_store(tmp_path / "store", forged_manifest())
    stored = tmp_path / "store" / object_key(SHA)
    stored.unlink()
    stored.symlink_to(secret)
    [result] = store.verify()
    assert [p.reason for p in result.problems] == ["missing from the store"]


def test_backup_list_of_a_store_that_is_a_file_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "store").write_text("not a folder")
    env = tmp_path / "env.yaml"
    env.write_text(f"name: hostile\nstate_dir: {tmp_path / 'state'}\nregions:\n  - {{name: primary, role: primary}}\n"
                   f"  - {{name: standby, role: standby}}\nbackup: {{store: {{path: {tmp_path / 'store'}}}}}\n")  # fmt: skip
    done = _drillkit("backup", "list", "--env", str(env))
    assert done.returncode == 2 and "is not a folder" in done.stderr and "Traceback" not in done.stderr


# -- model verify -------------------------------------------------------------------------


def small_version(folder: Path, files: dict[str, str]) -> Path:
    """A hand-written version: params.json and a manifest listing ``files`` besides it."""
    folder.mkdir(parents=True)
    (folder / "params.json").write_text("{}")
    listed = {"params.json": hashlib.sha256(b"{}").hexdigest(), **files}
    manifest = {"format": 1, "version": folder.name, "created_at": "2026-01-01T00:00:00Z",
                "params": asdict(ModelParams()), "files": listed, "golden": {"recommend": [], "search": []}}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_plain_hand_written_version_verifies(tmp_path: Path) -> None:
    assert verify(small_version(tmp_path / "v1", {})).files.keys() == {"params.json"}


@pytest.mark.parametrize("listed", ["/etc/passwd", "../outside.txt", "weights/../../outside.txt"])
def test_model_verify_refuses_a_manifest_that_lists_a_file_outside_the_version(tmp_path: Path, listed: str) -> None:
    (tmp_path / "outside.txt").write_bytes(CONTENT)
    real = Path(listed) if listed.startswith("/") else tmp_path / "outside.txt"
    version = small_version(tmp_path / "v1", {listed: hashlib.sha256(real.read_bytes()).hexdigest()})
    with pytest.raises(ModelRepositoryError, match="not a valid manifest.*files"):
        verify(version)


def test_model_verify_refuses_a_symlink_inside_the_version(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(CONTENT)
    version = small_version(tmp_path / "v1", {"weights/x.npy": SHA})
    (version / "weights").mkdir()
    (version / "weights" / "x.npy").symlink_to(secret)
    with pytest.raises(ModelRepositoryError, match="x.npy is a symbolic link"):
        verify(version)


@pytest.mark.parametrize(
    "change",
    [{"files": {"params.json": "0" * 63}}, {"params": {"items": -1}}, {"params": {"nope": 1}}, {"version": "../v1"},
     {"golden": {"recommend": [1], "search": []}}, {"golden": {"recommend": [], "search": [{"query": "x"}]}}],
)  # fmt: skip
def test_model_verify_refuses_bad_manifest_fields_naming_them(tmp_path: Path, change: dict[str, Any]) -> None:
    version = small_version(tmp_path / "v1", {})
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, **change}))
    with pytest.raises(ModelRepositoryError, match=f"not a valid manifest \\({next(iter(change))}"):
        verify(version)


def test_model_verify_of_etc_passwd_exits_2_from_the_command_line(tmp_path: Path) -> None:
    version = small_version(tmp_path / "v1", {"/etc/passwd": hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()})
    done = _drillkit("model", "verify", str(version))
    assert done.returncode == 2 and "OK" not in done.stdout and "not a valid manifest" in done.stderr


def _drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "drillkit", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_source_names_are_checked_like_the_environment_s() -> None:
    with pytest.raises(ValueError, match="region"):
        Source(environment="test", region="../primary")
