"""Retention: which backups to keep, and pruning the rest (manifests first, then objects).

A backup is kept when it is among the newest ``keep_last`` *or* younger than ``keep_days``
(the union, as restic's ``--keep-last`` / ``--keep-within``); the newest backup is always
kept. Deleting a manifest removes a backup atomically; its objects are deleted afterwards
when no kept backup references them and they were not written or touched for ``grace_s``
(a backup running concurrently touches the objects it reuses, so prune never pulls an
object out from under it). Half-written temporaries older than ``grace_s`` go too.

>>> report = prune(store, keep_last=3, keep_days=None, grace_s=0)   # doctest: +SKIP
>>> report.deleted_backups                                         # doctest: +SKIP
['20260101T000000.000Z-ab12']
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.backup.blobs import TMP_PREFIX
from drillkit.backup.manifest import OBJECTS, BackupManifest, manifest_key
from drillkit.backup.store import BackupStore

DAY_S = 86_400.0
DEFAULT_GRACE_S = 3_600.0


@dataclass(frozen=True)
class PruneReport:
    kept: list[str]
    deleted_backups: list[str]
    deleted_objects: int = 0
    freed_bytes: int = 0
    dry_run: bool = False


def kept_ids(backups: list[BackupManifest], *, keep_last: int | None, keep_days: float | None, now: float) -> set[str]:
    """Ids to keep (``backups`` newest first); no rule at all keeps everything.

    >>> kept_ids([], keep_last=1, keep_days=None, now=0.0)
    set()
    """
    if keep_last is None and keep_days is None:
        return {b.id for b in backups}
    kept = {b.id for b in backups[:1]}
    if keep_last is not None:
        kept |= {b.id for b in backups[:keep_last]}
    if keep_days is not None:
        kept |= {b.id for b in backups if now - b.created_at <= keep_days * DAY_S}
    return kept


def prune(store: BackupStore, *, keep_last: int | None, keep_days: float | None, grace_s: float = DEFAULT_GRACE_S,
          dry_run: bool = False) -> PruneReport:  # fmt: skip
    """Delete the backups retention does not keep, then the objects nothing references."""
    now = store.clock()
    backups = store.list()
    keep = kept_ids(backups, keep_last=keep_last, keep_days=keep_days, now=now)
    doomed = [b.id for b in backups if b.id not in keep]
    if not dry_run:
        for backup_id in doomed:
            store.blobs.delete(manifest_key(backup_id))
    referenced = set().union(*(b.objects() for b in backups if b.id in keep))
    count, freed = _prune_objects(store, referenced, now - grace_s, dry_run)
    return PruneReport(kept=[b.id for b in backups if b.id in keep], deleted_backups=doomed, deleted_objects=count,
                       freed_bytes=freed, dry_run=dry_run)  # fmt: skip


def _prune_objects(store: BackupStore, referenced: set[str], older_than: float, dry_run: bool) -> tuple[int, int]:
    count, freed = 0, 0
    for info in store.blobs.list(OBJECTS):
        name = info.key.rsplit("/", 1)[-1]
        unused = name.startswith(TMP_PREFIX) or name not in referenced
        if unused and info.modified < older_than:
            if not dry_run:
                store.blobs.delete(info.key)
            count, freed = count + 1, freed + info.size
    return count, freed
