"""The state folder and the files drillkit keeps in it: private, and never reached through a link.

drillkit runs as root beside production credentials, and what it reads back from its state
folder decides which processes it signals. So the folder is 0700 and must belong to the user
running drillkit, its files (state.json, undo.jsonl, lock) are 0600, and every one is opened
with O_NOFOLLOW: a link planted in their place is refused, not followed to /etc/passwd.

>>> root = private_dir(Path("/tmp/drillkit-doc/state"))                       # doctest: +SKIP
>>> write_private(root / "state.json", b"{}")                                  # doctest: +SKIP
>>> read_private(root / "state.json")                                          # doctest: +SKIP
b'{}'
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from drillkit.errors import SpecError

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, uid: int | None = None) -> Path:
    """Create ``path`` 0700 (parents as needed); refuse a link or a folder of another user.

    ``uid`` is the owner expected (default: the effective user); an existing folder of ours
    that is open to others is closed (it was created before this rule).
    """
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(_checked_folder(path, uid).st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def _checked_folder(path: Path, uid: int | None = None) -> os.stat_result:
    """``path``'s own status, when it is a real folder of the user; SpecError otherwise."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise SpecError(str(path), "state_dir", "is a symbolic link or not a folder", "point state_dir at a folder of your own")
    owner = os.geteuid() if uid is None else uid
    if info.st_uid != owner:
        raise SpecError(str(path), "state_dir", f"belongs to uid {info.st_uid}, not to you (uid {owner}): another "
                        "user could forge what drillkit reads back from it", "use a state_dir of your own")  # fmt: skip
    return info


def open_private(path: Path, flags: int) -> int:
    """``os.open`` of a file in the state folder: mode 0600 when created, never through a link."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise SpecError(str(path), "(file)", "is a symbolic link", "remove it: drillkit writes this file itself") from None


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (0600): a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a stale one, or a link planted there: O_EXCL then creates ours
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created 0600), flushed and fsynced before returning."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with os.fdopen(fd, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_private(path: Path) -> bytes | None:
    """The content of ``path``, or None when it does not exist (its folder must be the user's)."""
    if os.path.lexists(path.parent):
        _checked_folder(path.parent)
    try:
        fd = open_private(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO in its place must not block us
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SpecError(str(path), "(file)", "is not a regular file", "remove it: drillkit writes this file itself")
        return f.read()
