"""What one backup is: its manifest (``backups/<id>.json``), ids and object keys.

A backup is a snapshot of a region's model repository: every file of every version, each
stored once as a content-addressed object ``objects/<sha256[:2]>/<sha256>``. The manifest
lists them and is written *last*, so a backup whose upload died half way has no manifest
and never becomes "latest". Ids sort by time.

>>> new_backup_id(0.0)[:19]
'19700101T000000.000'
>>> object_key("ab" * 32)[:12]
'objects/ab/a'
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

FORMAT = 1
OBJECTS = "objects/"
BACKUPS = "backups/"


class FileEntry(BaseModel):
    """One file of the repository: its path (``<version>/<path>``), content hash and size."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    size: int


class Source(BaseModel):
    """Where a backup was taken: the environment and the region."""

    model_config = ConfigDict(frozen=True)

    environment: str
    region: str


class BackupManifest(BaseModel):
    """A committed backup.

    ``created_at`` is the snapshot point (the repository was listed then): data published
    after it is not in this backup, so RPO counts from it. ``committed_at`` is when the
    manifest was written, after every object was stored.
    """

    model_config = ConfigDict(frozen=True)

    format: int = FORMAT
    id: str
    created_at: float
    committed_at: float
    source: Source
    versions: dict[str, str]  # version -> sha256 of its manifest.json
    files: tuple[FileEntry, ...]
    bytes: int  # size of the repository it holds
    new_objects: int  # objects this backup stored (the others were there already)
    new_bytes: int

    @property
    def created_iso(self) -> str:
        return datetime.fromtimestamp(self.created_at, UTC).isoformat(timespec="milliseconds")

    def objects(self) -> set[str]:
        return {f.sha256 for f in self.files}


def new_backup_id(now: float) -> str:
    """A time-sortable id: ``20260101T120000.123Z-1a2b`` (UTC, ms, a random suffix)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}Z-{secrets.token_hex(2)}"


def object_key(sha256: str) -> str:
    return f"{OBJECTS}{sha256[:2]}/{sha256}"


def manifest_key(backup_id: str) -> str:
    return f"{BACKUPS}{backup_id}.json"
