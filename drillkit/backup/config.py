"""Open the backup store an environment names, and pick the region it backs up.

>>> store = store_for(load_environment("drills/environments/local.yaml"), Path(".drillkit/local"))  # doctest: +SKIP
>>> store.where                                                                                  # doctest: +SKIP
'file://.drillkit/local/backups'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.manifest import Source
from drillkit.backup.s3 import S3Blobs, s3_client
from drillkit.backup.store import BackupStore
from drillkit.spec import BackupSpec, EnvironmentSpec, StoreKind, StoreSpec


def open_store(spec: StoreSpec, *, default_root: Path, environ: Mapping[str, str] = os.environ,
               clock: Callable[[], float] = time.time) -> BackupStore:  # fmt: skip
    """The store ``spec`` describes (a local folder defaults to ``default_root``)."""
    if spec.kind is StoreKind.S3:
        return BackupStore(S3Blobs(s3_client(spec, environ), spec.bucket or "", spec.prefix), clock=clock)
    return BackupStore(LocalBlobs(spec.path or default_root), clock=clock)


def backup_spec(env: EnvironmentSpec) -> BackupSpec:
    """The environment's backup section, or the defaults (a local store, no schedule)."""
    return env.backup or BackupSpec()


def store_for(env: EnvironmentSpec, state_root: Path, *, environ: Mapping[str, str] = os.environ) -> BackupStore:
    """The environment's store; a local one defaults to ``<state_root>/backups``."""
    return open_store(backup_spec(env).store, default_root=state_root / "backups", environ=environ)


def source_of(env: EnvironmentSpec, region: str | None = None) -> Source:
    """The region whose repository is backed up: ``region``, ``backup.region`` or the primary."""
    name = region or backup_spec(env).region or env.primary.name
    return Source(environment=env.name, region=name)
