"""What one backup is: its manifest (``backups/<id>.json``), ids and object keys.

A backup is a snapshot of a region's model repository: every file of every version, each
stored once as a content-addressed object ``objects/<sha256[:2]>/<sha256>``. The manifest
lists them and is written *last*, so a backup whose upload died half way has no manifest
and never becomes "latest". Ids sort by time.

>>> new_backup_id(0.0)[:19]
'19700101T000000.000'
>>> object_key("ab" * 32)[:12]
'objects/ab/a'

A manifest is read from a store that other hosts write, so it is untrusted: every path is
a plain relative path inside a listed version (never absolute, never ``..``), every digest
is a sha256, sizes are >= 0 and each path is listed once. ``read_manifest`` turns anything
else into a SpecError naming the manifest, the field and the fix.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from drillkit.errors import SpecError
from drillkit.safepath import PathName, RelativePath, Sha256
from drillkit.spec.names import EnvironmentName, RegionName

FORMAT = 1
MAX_BYTES = 2**63 - 1  # the largest file size a filesystem reports
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{4}$")
_FIX = "the manifest was damaged or forged: verify the store (`drillkit backup verify`) and restore another backup"
OBJECTS = "objects/"
BACKUPS = "backups/"


class FileEntry(BaseModel):
    """One file of the repository: its path (``<version>/<path>``), content hash and size."""

    model_config = ConfigDict(frozen=True, strict=True)

    path: RelativePath
    sha256: Sha256
    size: int = Field(ge=0, le=MAX_BYTES)


class Source(BaseModel):
    """Where a backup was taken: the environment and the region."""

    model_config = ConfigDict(frozen=True, strict=True)

    environment: EnvironmentName
    region: RegionName


def check_backup_id(value: str) -> str:
    """``value`` when it has the form ``new_backup_id`` gives, else ValueError."""
    if not _ID.match(value):
        raise ValueError(f"{value[:80]!r} is not a backup id (like 20260101T120000.123Z-1a2b)")
    return value


BackupId = Annotated[str, AfterValidator(check_backup_id)]


class BackupManifest(BaseModel):
    """A committed backup.

    ``created_at`` is the snapshot point (the repository was listed then): data published
    after it is not in this backup, so RPO counts from it. ``committed_at`` is when the
    manifest was written, after every object was stored.
    """

    model_config = ConfigDict(frozen=True, strict=True, allow_inf_nan=False)

    format: Literal[1] = FORMAT
    id: BackupId
    created_at: float = Field(ge=0)
    committed_at: float = Field(ge=0)
    source: Source
    versions: dict[PathName, Sha256]  # version -> sha256 of its manifest.json
    files: tuple[FileEntry, ...]
    bytes: int = Field(ge=0, le=MAX_BYTES)  # size of the repository it holds
    new_objects: int = Field(ge=0, le=MAX_BYTES)  # objects this backup stored (the others were there already)
    new_bytes: int = Field(ge=0, le=MAX_BYTES)

    @model_validator(mode="after")
    def _files_are_unique_and_in_a_version(self) -> BackupManifest:
        # Two entries for one path would make the restored content depend on their order;
        # a file outside every listed version would be installed unverified.
        seen: set[str] = set()
        for entry in self.files:
            if entry.path in seen:
                raise ValueError(f"files: {entry.path!r} is listed twice")
            if entry.path.split("/", 1)[0] not in self.versions or "/" not in entry.path:
                raise ValueError(f"files: {entry.path!r} is not inside a listed version ({sorted(self.versions)})")
            seen.add(entry.path)
        return self

    @property
    def created_iso(self) -> str:
        return datetime.fromtimestamp(self.created_at, UTC).isoformat(timespec="milliseconds")

    def objects(self) -> set[str]:
        return {f.sha256 for f in self.files}


def read_manifest(data: bytes, where: str) -> BackupManifest:
    """The manifest in ``data`` (read from ``where``); SpecError names the first bad field.

    >>> read_manifest(b"[]", "backups/x.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    drillkit.errors.SpecError: backups/x.json: (manifest): ...
    """
    try:
        return BackupManifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(manifest)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SpecError(where, field, f"{first['msg']}{more}", _FIX) from None


def new_backup_id(now: float) -> str:
    """A time-sortable id: ``20260101T120000.123Z-1a2b`` (UTC, ms, a random suffix)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}Z-{secrets.token_hex(2)}"


def object_key(sha256: str) -> str:
    return f"{OBJECTS}{sha256[:2]}/{sha256}"


def manifest_key(backup_id: str) -> str:
    return f"{BACKUPS}{backup_id}.json"
