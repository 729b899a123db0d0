"""The key/value layer under the backup store: a local folder or S3-compatible object storage.

``BackupStore`` keeps its content-addressed logic on top of this small interface, so both
stores share every rule (objects by sha256, manifest last, retention, verify). Keys are
``/``-separated (``objects/ab/abcd...``, ``backups/<id>.json``). A put is atomic: a reader
sees the whole value or nothing (a temporary file renamed into place; an S3 PUT).

>>> blobs = LocalBlobs(Path("/tmp/store"))              # doctest: +SKIP
>>> blobs.put_bytes("backups/x.json", b"{}")             # doctest: +SKIP
>>> blobs.get_bytes("backups/x.json")                    # doctest: +SKIP
b'{}'
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from drillkit.errors import SpecError

CHUNK = 4 << 20
TMP_PREFIX = ".tmp-"  # half-written local values; prune removes stale ones


class BlobMissing(KeyError):
    """The key does not exist in the store."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: float  # unix time of the last write or touch


class Blobs(Protocol):
    """Where backup bytes live. ``where`` names the store in messages (never credentials)."""

    where: str

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, path: Path) -> None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> Iterator[bytes]:
        """The value in chunks; BlobMissing when the key does not exist."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> list[BlobInfo]: ...

    def delete(self, key: str) -> None: ...

    def touch(self, key: str) -> None:
        """Mark a value as used now (prune spares recently used objects)."""
        ...


class LocalBlobs:
    """A folder: standing in for the other region's object storage (an NFS mount works too).

    Attributes:
        root: the store's folder.
        where: ``file://<root>`` for messages.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = f"file://{root}"

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb") as source:
            self._atomic_write(key, lambda f: shutil.copyfileobj(source, f, CHUNK))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda f: f.write(data))

    def read(self, key: str) -> Iterator[bytes]:
        try:
            # O_NOFOLLOW: an object planted as a link (to /etc/shadow) must not be read as data
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobMissing(key) from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise BlobMissing(key) from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise BlobMissing(key)  # a folder where a value should be
            yield from iter(lambda: f.read(CHUNK), b"")

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.read(key))

    def list(self, prefix: str) -> list[BlobInfo]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        infos = []
        for path in base.rglob("*"):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                infos.append(BlobInfo(path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime))
        return sorted(infos, key=lambda i: i.key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def touch(self, key: str) -> None:
        now = time.time()
        os.utime(self._path(key), (now, now))

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad store key {key!r}")
        self._check_layout(key)
        return self.root / key

    def _check_layout(self, key: str) -> None:
        """The store's folder and its top folder for ``key`` must be folders where they exist.

        Without this a store path that is a regular file lists no backups and exits 0, and an
        ``objects`` that is a file fails with a traceback half way through a backup.
        """
        folders = [self.root]
        if "/" in key:  # objects/..., backups/...
            folders.append(self.root / key.split("/", 1)[0])
        for path in folders:
            if path.exists() and not path.is_dir():
                raise SpecError(str(path), "backup.store.path", "is not a folder (a backup store is a folder of "
                                "objects/ and backups/)", "point backup.store.path at a folder, or move this file away")  # fmt: skip

    def _atomic_write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
