"""The backup store: content-addressed, incremental snapshots of a model repository.

``create`` verifies every version of the repository against its own manifest (a corrupted
repository is never backed up), stores each file once under its sha256 (an object that is
already there is not copied again, only touched), and commits the backup's manifest last.
``fetch`` re-hashes every object it reads and refuses a backup with the failing object
named; ``verify`` re-hashes every object of every backup.

The store is written by other hosts, so what it holds is untrusted: a manifest is read
through ``read_manifest`` (paths relative and inside a version, digests sha256), and
``fetch`` writes only inside its destination, never through a symbolic link.

>>> store = BackupStore(LocalBlobs(Path("/tmp/store")))                               # doctest: +SKIP
>>> backup = store.create(Path(".drillkit/local/regions/primary/models"), Source(environment="local", region="primary"))  # doctest: +SKIP
>>> store.latest().id == backup.id                                                  # doctest: +SKIP
True
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drillkit.backup.blobs import BlobMissing, Blobs, LocalBlobs
from drillkit.backup.errors import BackupError, BackupRefused
from drillkit.backup.manifest import (
    BACKUPS,
    BackupManifest,
    FileEntry,
    Source,
    manifest_key,
    new_backup_id,
    object_key,
    read_manifest,
)
from drillkit.errors import ModelRepositoryError, SpecError
from drillkit.model import repository
from drillkit.safepath import check_name, confined
from drillkit.workload.golden import load_golden

__all__ = ["BackupStore", "LocalBlobs", "Problem", "VerifyResult"]


@dataclass(frozen=True)
class Problem:
    """A damaged part of a backup: which file, which object, what is wrong."""

    path: str
    object: str
    reason: str


@dataclass(frozen=True)
class VerifyResult:
    backup_id: str
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class BackupStore:
    """Backups in one store (a folder or an S3 prefix).

    Attributes:
        blobs: the key/value layer (``LocalBlobs`` or ``S3Blobs``).
        clock: unix time source (injected so tests control backup times).
    """

    def __init__(self, blobs: Blobs, *, clock: Callable[[], float] = time.time) -> None:
        self.blobs = blobs
        self.clock = clock

    @property
    def where(self) -> str:
        return self.blobs.where

    def create(self, repository_root: Path, source: Source) -> BackupManifest:
        """Back up every version under ``repository_root``; the manifest is committed last."""
        created_at = self.clock()
        files, versions = _snapshot(repository_root)
        new_objects, new_bytes = self._store_objects(repository_root, files)
        backup = BackupManifest(
            id=new_backup_id(created_at), created_at=created_at, committed_at=self.clock(), source=source,
            versions=versions, files=tuple(files), bytes=sum(f.size for f in files),
            new_objects=new_objects, new_bytes=new_bytes,
        )  # fmt: skip
        self.blobs.put_bytes(manifest_key(backup.id), backup.model_dump_json(indent=1).encode())
        return backup

    def list(self) -> list[BackupManifest]:
        """Committed backups, newest first (unreadable manifests are left to ``verify``)."""
        return [b for b in self._load_all() if isinstance(b, BackupManifest)]

    def latest(self) -> BackupManifest | None:
        backups = self.list()
        return backups[0] if backups else None

    def get(self, backup_id: str) -> BackupManifest:
        """One backup by id; BackupError names the ones that exist."""
        loaded = self._load(_checked_id(backup_id))
        if isinstance(loaded, BackupManifest):
            return loaded
        if isinstance(loaded, Problem):
            raise BackupRefused(backup_id, loaded.object, loaded.reason)
        known = ", ".join(b.id for b in self.list()[:5]) or "none"
        raise BackupError(f"no backup {backup_id!r} in {self.where} (newest: {known}); see `drillkit backup list`")

    def fetch(self, backup: BackupManifest, dest: Path) -> int:
        """Write every file of ``backup`` under ``dest``, re-hashing each; BackupRefused names a bad object.

        ``dest`` is created when missing; every file lands inside it or the backup is refused.
        """
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        for entry in backup.files:
            digest = _copy_hashing(self.blobs, entry, dest, backup.id)
            if digest != entry.sha256:
                raise BackupRefused(backup.id, object_key(entry.sha256),
                                    f"{entry.path}: sha256 mismatch, the stored object is corrupted (it hashes to {digest[:16]}...)")  # fmt: skip
            total += entry.size
        return total

    def verify(self, backup_id: str | None = None) -> list[VerifyResult]:
        """Re-hash every object of one backup (or of all); each shared object is read once."""
        loaded = [self._load(_checked_id(backup_id))] if backup_id else self._load_all()
        checked: dict[str, str | None] = {}
        results = []
        for item in loaded:
            if item is None:
                raise BackupError(f"no backup {backup_id!r} in {self.where}; see `drillkit backup list`")
            if isinstance(item, Problem):
                results.append(VerifyResult(item.path, (item,)))
                continue
            for entry in item.files:
                if entry.sha256 not in checked:
                    checked[entry.sha256] = self._check_object(entry.sha256)
            problems = tuple(Problem(e.path, object_key(e.sha256), checked[e.sha256] or "") for e in item.files if checked[e.sha256])
            results.append(VerifyResult(item.id, problems))
        return results

    def _store_objects(self, root: Path, files: list[FileEntry]) -> tuple[int, int]:
        stored, stored_bytes = 0, 0
        for entry in {f.sha256: f for f in files}.values():
            key = object_key(entry.sha256)
            if self.blobs.exists(key):
                self.blobs.touch(key)  # in use again: prune's grace period spares it
                continue
            self.blobs.put_file(key, root / entry.path)
            stored, stored_bytes = stored + 1, stored_bytes + entry.size
        return stored, stored_bytes

    def _check_object(self, sha256: str) -> str | None:
        digest = hashlib.sha256()
        try:
            for chunk in self.blobs.read(object_key(sha256)):
                digest.update(chunk)
        except BlobMissing:
            return "missing from the store"
        got = digest.hexdigest()
        return None if got == sha256 else f"sha256 mismatch: the stored object hashes to {got[:16]}..."

    def _load_all(self) -> list[BackupManifest | Problem | None]:
        ids = [i.key[len(BACKUPS) : -len(".json")] for i in self.blobs.list(BACKUPS) if i.key.endswith(".json")]
        return [self._load(backup_id) for backup_id in sorted(ids, reverse=True)]

    def _load(self, backup_id: str) -> BackupManifest | Problem | None:
        key = manifest_key(backup_id)
        try:
            backup = read_manifest(self.blobs.get_bytes(key), f"{self.where}/{key}")
        except BlobMissing:
            return None
        except SpecError as exc:
            return Problem(backup_id, key, f"the manifest is unreadable: {exc.field}: {exc.problem}")
        if backup.id != backup_id:  # a manifest copied under another name would restore the wrong backup
            return Problem(backup_id, key, f"the manifest says it is backup {backup.id}")
        return backup


def _checked_id(backup_id: str) -> str:
    """An id given on the command line: it becomes a store key, so it must be one plain name
    (a well-formed id that is not there gets "no backup" with the newest ones listed)."""
    try:
        return check_name(backup_id)
    except ValueError as exc:
        raise SpecError("--backup", "backup id", f"is not a backup id: {exc}", "pick one from `drillkit backup list`") from None


def _snapshot(root: Path) -> tuple[list[FileEntry], dict[str, str]]:
    """Every file of every version, each version verified against its manifest first."""
    names = repository.versions(root)
    if not names:
        raise BackupError(f"{root} holds no model version: nothing to back up")
    files: list[FileEntry] = []
    versions: dict[str, str] = {}
    for name in names:
        try:
            manifest = repository.verify(root / name)
        except ModelRepositoryError as exc:
            raise BackupError(f"refusing to back up {root}: {exc}") from None
        versions[name] = manifest.sha256
        listed = {**manifest.files, repository.MANIFEST: manifest.sha256}
        if _recorded_golden(root / name, manifest):
            listed[repository.GOLDEN] = repository.file_sha256(root / name / repository.GOLDEN)
        files += [FileEntry(path=f"{name}/{p}", sha256=h, size=(root / name / p).stat().st_size) for p, h in sorted(listed.items())]
    return files, versions


def _recorded_golden(version_dir: Path, manifest: repository.Manifest) -> bool:
    """Whether the version has recorded golden answers, which a restore verifies it with; a
    malformed or foreign ``golden.json`` refuses the backup like a file that fails the manifest."""
    try:
        return load_golden(version_dir, manifest.sha256) is not None
    except ModelRepositoryError as exc:
        raise BackupError(f"refusing to back up {version_dir}: {exc}") from None


def _copy_hashing(blobs: Blobs, entry: FileEntry, dest: Path, backup_id: str) -> str:
    digest = hashlib.sha256()
    try:
        with os.fdopen(_create_inside(dest, entry.path), "wb") as f:
            for chunk in blobs.read(object_key(entry.sha256)):
                digest.update(chunk)
                f.write(chunk)
    except BlobMissing:
        raise BackupRefused(backup_id, object_key(entry.sha256), f"{entry.path}: missing from the store (an incomplete backup)") from None
    except (ValueError, OSError) as exc:
        raise BackupRefused(backup_id, entry.path, f"refused to write it under {dest}: {exc}") from None
    return digest.hexdigest()


def _create_inside(dest: Path, relative: str) -> int:
    """A new file descriptor for ``dest/relative``, opened without following any symbolic link.

    ``confined`` refuses a path that leaves ``dest``; walking the folders by descriptor with
    O_NOFOLLOW also refuses a link planted under ``dest`` between that check and the write.
    """
    confined(dest, relative)
    *folders, name = relative.split("/")
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for folder in folders:
            child = _enter(fd, folder)
            os.close(fd)
            fd = child
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=fd)
    finally:
        os.close(fd)


def _enter(parent: int, name: str) -> int:
    """Open the folder ``name`` in ``parent``, creating it when missing; never through a link."""
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(exc.errno, f"{name} is a symbolic link or not a folder") from None
        raise
