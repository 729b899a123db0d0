"""The control API's bearer token, kept in the state folder as a 0600 file.

A web page can reach a loopback port by DNS rebinding, so the control API answers only
callers that can read this file: the proxy writes a fresh token at every start
(``--token-file``), and every client reads it from the environment's state folder.

>>> write_token_file(Path("netfault.token"), new_token())   # doctest: +SKIP
>>> read_token_file(Path("netfault.token"))                  # doctest: +SKIP
'q3n...'
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from drillkit.errors import ComponentError

TOKEN_FILE = "netfault.token"  # inside the environment's state folder
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")  # what new_token makes; also safe in a header
_MAX_READ = 256


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` with mode 0600, atomically.

    The temporary file is created exclusively and never follows a link, so a planted
    symlink cannot redirect the write, and it is 0600 from its first byte.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    os.replace(tmp, path)


def read_token_file(path: Path) -> str:
    """The token in ``path``: a regular file of this user that nobody else can read."""
    try:
        # O_NOFOLLOW: a symlink is refused; O_NONBLOCK: a FIFO cannot hang the caller
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise _unusable(path, f"cannot open it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        _check_file(path, os.fstat(handle.fileno()))
        token = handle.read(_MAX_READ).decode("ascii", "replace").strip()
    if not _TOKEN.fullmatch(token):
        raise _unusable(path, "its content is not a token")
    return token


def _check_file(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise _unusable(path, "it is not a regular file")
    if info.st_uid != os.geteuid():
        raise _unusable(path, f"it belongs to uid {info.st_uid}, not to this user")
    if info.st_mode & 0o077:
        raise _unusable(path, f"it is readable by others (mode {stat.S_IMODE(info.st_mode):o}, not 600)")


def _unusable(path: Path, why: str) -> ComponentError:
    return ComponentError(f"fault proxy token file {path}: {why}; the proxy writes it at start: "
                          f"run `drillkit down` and `drillkit up` again")  # fmt: skip
