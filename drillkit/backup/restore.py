"""Restore a region's model repository from a backup, verified before it serves.

1. fetch every object of the backup into a fresh folder next to the region's repository,
   re-hashing each (a corrupted or missing object refuses the backup, naming the object);
2. verify every version against its own manifest, and that the backup holds the version the
   environment serves;
3. load that version in a real Triton node of the target region (outside the gateway) and
   compare its answers to the golden probes by their rules. A backup taken before the golden
   answers were recorded is judged by the ones recorded since for the same manifest (bound by
   its sha256, in the model cache), and the restored copy gains them;
4. switch the folder in atomically, restart the region's nodes onto it, and check the
   golden answers on each node again: the restore ends when the region serves verified.

A refused backup is skipped for the next older one only when the caller allows it
(``fallback``); each refusal is reported.

>>> report = restore_region(platform, store, "primary", fallback=True)   # doctest: +SKIP
>>> report.restore_time_s, report.golden_identical                       # doctest: +SKIP
(7.9, True)
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from drillkit.backup.errors import BackupRefused, RestoreFailed
from drillkit.backup.golden import golden_identical
from drillkit.backup.manifest import BackupManifest
from drillkit.backup.store import BackupStore
from drillkit.errors import ModelRepositoryError, StartupError
from drillkit.model import repository
from drillkit.platforms.base import Health, Platform
from drillkit.spec import model_cache
from drillkit.workload.golden import GoldenSet, golden_of, load_golden, recorded_or_builtin, write_golden


@dataclass(frozen=True)
class Refusal:
    backup_id: str
    object: str
    reason: str


@dataclass(frozen=True)
class RestoreReport:
    """What one restore did (times are unix seconds)."""

    region: str
    backup_id: str
    backup_created_at: float
    versions: tuple[str, ...]
    serving_version: str
    started_at: float
    verified_at: float  # the fresh folder passed every checksum and the Triton golden check
    ended_at: float  # the region's nodes serve it and answer the golden probes
    golden_identical: bool
    golden_detail: str
    refused: tuple[Refusal, ...]
    bytes: int

    @property
    def restore_time_s(self) -> float:
        return self.ended_at - self.started_at

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "versions": list(self.versions), "refused": [asdict(r) for r in self.refused],
                "restore_time_s": self.restore_time_s}  # fmt: skip


def restore_region(platform: Platform, store: BackupStore, region: str, *, backup_id: str | None = None,
                   fallback: bool = False, clock: Callable[[], float] = time.time) -> RestoreReport:  # fmt: skip
    """Restore ``region`` from ``backup_id`` (default: the newest); see the module docstring."""
    started = clock()
    refused: list[BackupRefused] = []
    for backup in _candidates(store, backup_id, fallback):
        try:
            fresh, size = _stage(platform, store, backup, region)
        except BackupRefused as exc:
            refused.append(exc)
            continue
        verified = clock()
        platform.switch_repository(region, fresh)
        identical, detail = _serve(platform, region)
        return RestoreReport(region=region, backup_id=backup.id, backup_created_at=backup.created_at,
                             versions=tuple(sorted(backup.versions)), serving_version=platform.spec.model.version,
                             started_at=started, verified_at=verified, ended_at=clock(), golden_identical=identical,
                             golden_detail=detail, refused=tuple(_refusal(r) for r in refused), bytes=size)  # fmt: skip
    raise _failed(store, region, refused, fallback)


def region_serves(platform: Platform, region: str) -> bool:
    """True when the region's repository verifies and every node of it is ready (nothing to restore)."""
    try:
        repository.verify(platform.region_repository(region) / platform.spec.model.version)
    except ModelRepositoryError:
        return False
    nodes = platform.status().nodes(region)
    return bool(nodes) and all(n.health is Health.READY for n in nodes)


def _candidates(store: BackupStore, backup_id: str | None, fallback: bool) -> Iterator[BackupManifest]:
    """The chosen (or newest) backup, then, with ``fallback``, every older one."""
    backups = store.list()
    first = 0
    if backup_id is not None:
        chosen = store.get(backup_id)
        first = next(i for i, b in enumerate(backups) if b.id == chosen.id)
    yield from backups[first : None if fallback else first + 1]


def _stage(platform: Platform, store: BackupStore, backup: BackupManifest, region: str) -> tuple[Path, int]:
    """Fetch and verify ``backup`` into a fresh folder beside the region's repository."""
    live = platform.region_repository(region)
    fresh = live.with_name(f".{live.name}.restore-{backup.id}")
    _remove(fresh)
    live.parent.mkdir(parents=True, exist_ok=True)
    try:
        size = store.fetch(backup, fresh)
        manifest = _verify_versions(backup, fresh, platform.spec.model.version)
        _verify_on_triton(platform, region, fresh, backup, manifest)
    except BaseException:
        _remove(fresh)  # a refused backup leaves nothing behind
        raise
    return fresh, size


def _remove(path: Path) -> None:
    """Remove a staging folder; a link planted in its place is removed, never followed."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _verify_versions(backup: BackupManifest, folder: Path, serving: str) -> repository.Manifest:
    if serving not in backup.versions:
        raise BackupRefused(backup.id, f"{serving}/", f"the backup holds {sorted(backup.versions)}, not {serving}, "
                            "the version this environment serves")  # fmt: skip
    manifests = {}
    for version, digest in sorted(backup.versions.items()):
        try:
            manifests[version] = repository.verify(folder / version)
        except ModelRepositoryError as exc:
            raise BackupRefused(backup.id, f"{version}/", str(exc)) from None
        if manifests[version].sha256 != digest:
            raise BackupRefused(backup.id, f"{version}/{repository.MANIFEST}", "differs from the one the backup recorded")
    return manifests[serving]


def _staged_golden(platform: Platform, backup: BackupManifest, version_dir: Path, manifest: repository.Manifest) -> GoldenSet:
    """The golden answers that judge a staged version: its own, else those recorded since for
    the same manifest (written into the staged copy, so the restored region has them)."""
    golden = recorded_or_builtin(version_dir, manifest)
    if golden is not None:
        return golden
    try:
        golden = load_golden(model_cache(platform.spec) / manifest.version, manifest.sha256)
    except ModelRepositoryError:
        golden = None  # the cache's answers belong to another build of this version
    if golden is None:
        raise BackupRefused(backup.id, f"{manifest.version}/", "no golden answers to verify it with, in the backup or "
                            "recorded for its manifest: record them with `drillkit golden record --env ENV`")  # fmt: skip
    write_golden(version_dir, golden)
    return golden


def _verify_on_triton(platform: Platform, region: str, folder: Path, backup: BackupManifest,
                      manifest: repository.Manifest) -> None:  # fmt: skip
    golden = _staged_golden(platform, backup, folder / manifest.version, manifest)
    try:
        with platform.verification_node(region, folder) as url:
            identical, detail = golden_identical(url, golden)
    except StartupError as exc:
        raise BackupRefused(backup.id, f"{manifest.version}/", f"a Triton node could not load it: {_last_line(str(exc))}") from None
    if not identical:
        raise BackupRefused(backup.id, f"{manifest.version}/", f"golden answers differ on Triton: {detail}")


def _serve(platform: Platform, region: str) -> tuple[bool, str]:
    """Restart the region's nodes onto the switched repository; check each one's answers."""
    platform.restart_nodes(platform.node_names(region))
    golden = golden_of(platform.region_repository(region) / platform.spec.model.version)
    results = [(n.name, *golden_identical(n.endpoint or "", golden)) for n in platform.status().nodes(region)]
    wrong = [f"{name}: {detail}" for name, ok, detail in results if not ok]
    if wrong:
        return False, "; ".join(wrong)
    return True, f"every node of {region} ({len(results)}) answers the golden probes identically"


def _refusal(exc: BackupRefused) -> Refusal:
    return Refusal(exc.backup_id, exc.object, exc.reason)


def _failed(store: BackupStore, region: str, refused: list[BackupRefused], fallback: bool) -> RestoreFailed:
    if not refused:
        return RestoreFailed(f"no backup in {store.where} to restore {region} from: run `drillkit backup create` first", [])
    hint = "" if fallback else "; choose an older one with --backup ID (see `drillkit backup list`) or pass --fallback"
    reasons = "; ".join(str(r) for r in refused)
    return RestoreFailed(f"could not restore {region}: {reasons}{hint}", refused)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text
