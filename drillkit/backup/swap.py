"""Put a freshly restored folder in place of a live one, atomically.

Linux ``renameat2(RENAME_EXCHANGE)`` swaps two paths in one step, so a reader sees the old
repository or the new one, never neither; the old one is deleted afterwards. Where the live
folder is gone (deleted by the fault) a plain rename is atomic already. On a filesystem
without RENAME_EXCHANGE the old folder is renamed aside first (a gap of microseconds).

>>> install_dir(Path("regions/primary/.models.restore-x"), Path("regions/primary/models"))  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import time
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def install_dir(fresh: Path, live: Path) -> None:
    """Make ``fresh`` the folder at ``live`` (same filesystem); the old content is removed."""
    if not os.path.lexists(live):
        os.rename(fresh, live)
        return
    if _exchange(fresh, live):
        _discard(fresh)  # now holds the old content
        return
    aside = live.with_name(f".{live.name}.old-{time.time_ns()}")
    os.rename(live, aside)
    os.rename(fresh, live)
    _discard(aside)


def _discard(old: Path) -> None:
    # A link planted where the live folder was is removed itself: its target is not ours.
    if old.is_symlink():
        old.unlink()
    else:
        shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the kernel or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"renameat2 exchange of {a} and {b}: {os.strerror(code)}")
