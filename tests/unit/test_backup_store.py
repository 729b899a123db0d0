"""The backup store, run whole against a local folder and a real S3 endpoint (moto server).

Content-addressed objects, incremental backups, the manifest committed last, fetch and
verify re-hashing every object, retention and prune.
"""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from drillkit.backup.errors import BackupError, BackupRefused
from drillkit.backup.manifest import Source, manifest_key, object_key
from drillkit.backup.retention import kept_ids, prune
from drillkit.backup.store import BackupStore
from drillkit.model.repository import verify

if TYPE_CHECKING:
    from tests.unit.backup_fixtures import Clock, MakeRepo

pytest_plugins = ["tests.unit.backup_fixtures"]  # the repositories and both stores

SOURCE = Source(environment="test", region="primary")


def files_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_backup_restores_every_file_bit_for_bit(store: BackupStore, make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "v1", "v2")
    backup = store.create(repo, SOURCE)
    assert sorted(backup.versions) == ["v1", "v2"] and backup.source == SOURCE
    assert {f.path for f in backup.files} == set(files_of(repo))
    assert all(store.blobs.exists(object_key(f.sha256)) for f in backup.files)
    restored = tmp_path / "restored"
    assert store.fetch(store.get(backup.id), restored) == sum(f.size for f in backup.files)
    assert files_of(restored) == files_of(repo)
    assert all(filecmp.cmp(repo / p, restored / p, shallow=False) for p in files_of(repo))
    assert verify(restored / "v2").sha256 == backup.versions["v2"]


def test_backups_are_incremental(store: BackupStore, make_repo: MakeRepo, tmp_path: Path, clock: Clock) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    first = store.create(repo, SOURCE)
    assert first.new_objects == len(first.objects()) and first.new_bytes > 0
    clock.now += 60
    again = store.create(repo, SOURCE)
    assert (again.new_objects, again.new_bytes) == (0, 0)
    make_repo(repo, "v2")
    clock.now += 60
    third = store.create(repo, SOURCE)
    v2_objects = {f.sha256 for f in third.files if f.path.startswith("v2/")} - first.objects()
    assert third.new_objects == len(v2_objects) > 0
    assert [b.id for b in store.list()] == [third.id, again.id, first.id]  # newest first: ids sort by time
    assert store.latest() == third and store.get(first.id).created_at == clock.now - 120


class FailingBlobs:
    """Delegates to real blobs but dies after ``puts`` object uploads (a crash mid-backup)."""

    def __init__(self, blobs: object, puts: int) -> None:
        self.inner, self.puts = blobs, puts

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def put_file(self, key: str, path: Path) -> None:
        if self.puts == 0:
            raise OSError("connection lost")
        self.puts -= 1
        self.inner.put_file(key, path)  # type: ignore[attr-defined]


def test_a_half_written_backup_never_becomes_latest(store: BackupStore, make_repo: MakeRepo, tmp_path: Path, clock: Clock) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    good = store.create(repo, SOURCE)
    make_repo(repo, "v2")
    clock.now += 60
    dying = BackupStore(FailingBlobs(store.blobs, puts=2), clock=clock)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="connection lost"):
        dying.create(repo, SOURCE)
    assert store.latest() == good and len(store.list()) == 1
    clock.now += 10
    report = prune(store, keep_last=None, keep_days=None, grace_s=0)  # the orphans of the dead backup go
    assert report.deleted_objects == 2 and report.deleted_backups == []
    assert not any(r.problems for r in store.verify())


def test_fetch_refuses_a_corrupted_object_and_names_it(store: BackupStore, make_repo: MakeRepo, tmp_path: Path) -> None:
    backup = store.create(make_repo(tmp_path / "repo", "v1"), SOURCE)
    weights = next(f for f in backup.files if f.path == "v1/weights/item_embeddings.npy")
    data = bytearray(store.blobs.get_bytes(object_key(weights.sha256)))
    data[len(data) // 2] ^= 0xFF
    store.blobs.put_bytes(object_key(weights.sha256), bytes(data))
    with pytest.raises(BackupRefused) as refused:
        store.fetch(backup, tmp_path / "out")
    assert refused.value.backup_id == backup.id and refused.value.object == object_key(weights.sha256)
    assert "v1/weights/item_embeddings.npy: sha256 mismatch" in refused.value.reason


def test_fetch_refuses_an_incomplete_backup(store: BackupStore, make_repo: MakeRepo, tmp_path: Path) -> None:
    backup = store.create(make_repo(tmp_path / "repo", "v1"), SOURCE)
    names = next(f for f in backup.files if f.path == "v1/catalog/names.json")
    store.blobs.delete(object_key(names.sha256))
    with pytest.raises(BackupRefused, match=r"v1/catalog/names\.json: missing from the store"):
        store.fetch(backup, tmp_path / "out")


def test_verify_rehashes_every_object_of_every_backup(store: BackupStore, make_repo: MakeRepo, tmp_path: Path, clock: Clock) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    old = store.create(repo, SOURCE)
    make_repo(repo, "v2")
    clock.now += 60
    new = store.create(repo, SOURCE)
    only_new = next(f for f in new.files if f.path == "v2/weights/user_embeddings.npy")
    store.blobs.put_bytes(object_key(only_new.sha256), b"bit rot")
    store.blobs.put_bytes(manifest_key("20990101T000000.000Z-0000"), b"{not json")
    results = {r.backup_id: r for r in store.verify()}
    assert results[old.id].ok
    assert [(p.path, p.object) for p in results[new.id].problems] == [("v2/weights/user_embeddings.npy", object_key(only_new.sha256))]
    assert "manifest is unreadable" in results["20990101T000000.000Z-0000"].problems[0].reason
    assert [r.backup_id for r in store.verify(old.id)] == [old.id]
    with pytest.raises(BackupError, match="no backup 'nope'"):
        store.get("nope")


def test_a_corrupted_repository_is_never_backed_up(store: BackupStore, make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    target = repo / "v1" / "weights" / "item_bias.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=r"refusing to back up .*item_bias\.npy does not match"):
        store.create(repo, SOURCE)
    assert store.list() == []
    with pytest.raises(BackupError, match="holds no model version"):
        store.create(tmp_path / "empty", SOURCE)


def test_retention_keeps_the_newest_n_and_the_recent_days(store: BackupStore, make_repo: MakeRepo, tmp_path: Path, clock: Clock) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    ids = []
    for version in ("v2", "v3"):  # three backups, a day apart; v3's objects only in the last
        ids.append(store.create(repo, SOURCE).id)
        clock.now += 86_400
        make_repo(repo, version)
    ids.append(store.create(repo, SOURCE).id)
    backups = store.list()
    assert kept_ids(backups, keep_last=1, keep_days=None, now=clock.now) == {ids[2]}
    assert kept_ids(backups, keep_last=None, keep_days=1.5, now=clock.now) == {ids[2], ids[1]}
    assert kept_ids(backups, keep_last=None, keep_days=0.1, now=clock.now + 10 * 86_400) == {ids[2]}  # newest always
    assert kept_ids(backups, keep_last=None, keep_days=None, now=clock.now) == set(ids)
    dry = prune(store, keep_last=1, keep_days=None, grace_s=0, dry_run=True)
    assert dry.deleted_backups == [ids[1], ids[0]] and len(store.list()) == 3
    report = prune(store, keep_last=2, keep_days=None, grace_s=0)
    assert report.deleted_backups == [ids[0]] and report.deleted_objects == 0  # all its objects are shared
    report = prune(store, keep_last=1, keep_days=None, grace_s=0)
    assert report.deleted_backups == [ids[1]] and report.deleted_objects == 0
    assert [b.id for b in store.list()] == [ids[2]] and store.verify()[0].ok


def test_prune_spares_unreferenced_objects_within_the_grace_period(
    store: BackupStore, make_repo: MakeRepo, tmp_path: Path, clock: Clock
) -> None:
    repo = make_repo(tmp_path / "repo", "v1", "v2")
    old = store.create(repo, SOURCE)
    (repo / "v2").rename(tmp_path / "v2-gone")
    clock.now += 60
    new = store.create(repo, SOURCE)
    orphans = old.objects() - new.objects()
    clock.now = __import__("time").time()
    report = prune(store, keep_last=1, keep_days=None, grace_s=3600)
    assert report.deleted_backups == [old.id] and report.deleted_objects == 0  # written moments ago
    report = prune(store, keep_last=1, keep_days=None, grace_s=0)
    assert report.deleted_objects == len(orphans) > 0
    assert not any(store.blobs.exists(object_key(o)) for o in orphans)
    assert store.verify()[0].ok


def test_the_manifest_holds_no_credentials(store: BackupStore, make_repo: MakeRepo, tmp_path: Path) -> None:
    backup = store.create(make_repo(tmp_path / "repo", "v1"), SOURCE)
    text = store.blobs.get_bytes(manifest_key(backup.id)).decode()
    assert "testing" not in text and json.loads(text)["id"] == backup.id


def test_a_large_object_survives_being_touched(store: BackupStore, tmp_path: Path) -> None:
    """A reused object is touched (on S3 a server-side copy): a multipart upload (over 8 MB)
    must still read back whole and pass the client's checksum validation."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))
    store.blobs.put_file("objects/xx/big", big)
    store.blobs.touch("objects/xx/big")
    assert store.blobs.get_bytes("objects/xx/big") == big.read_bytes()
