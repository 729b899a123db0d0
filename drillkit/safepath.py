"""Paths and digests read from files that others write (backup and model manifests).

A manifest names files by a path relative to a folder drillkit writes into or reads from.
Such a path is untrusted: ``../../etc/cron.d/x`` or ``/etc/passwd`` must never leave the
folder. A path is accepted only in its one normal form (``a/b``: no ``.``, ``..``, empty
or absolute part, no control character), and is confined again where it is used.

>>> check_relative("v1/weights/item_bias.npy")
'v1/weights/item_bias.npy'
>>> check_relative("../x")
Traceback (most recent call last):
...
ValueError: '../x' is not a plain relative path: part '..' is not allowed (write it like v1/weights/item_bias.npy)
>>> confined(Path("/srv/repo"), "v1/params.json")
PosixPath('/srv/repo/v1/params.json')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

MAX_PATH = 1024  # far beyond any model file, well under PATH_MAX
MAX_PART = 255  # NAME_MAX of Linux filesystems
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HINT = "write it like v1/weights/item_bias.npy"


def check_relative(value: str) -> str:
    """``value`` when it is a normal relative path, else ValueError saying why."""
    problem = _relative_problem(value)
    if problem:
        raise ValueError(f"{value[:80]!r} is not a plain relative path: {problem} ({_HINT})")
    return value


def _relative_problem(value: str) -> str | None:
    if not value or len(value) > MAX_PATH:
        return f"its length must be 1..{MAX_PATH}"
    if _CONTROL.search(value) or "\\" in value:
        return "it holds a control character or a backslash"
    if value.startswith("/"):
        return "it is absolute"
    for part in value.split("/"):
        if part in ("", ".", "..") or len(part) > MAX_PART:
            return f"part {part!r} is not allowed"
    return None


def check_name(value: str) -> str:
    """``value`` when it is one plain path part (a version folder's name), else ValueError."""
    check_relative(value)
    if "/" in value:
        raise ValueError(f"{value[:80]!r} must be one folder name, without '/'")
    return value


def confined(root: Path, relative: str) -> Path:
    """``root / relative``, resolved, when it stays inside ``root``; else ValueError.

    The lexical check above refuses ``..``; resolving refuses a symlink already in the
    tree that points outside (``root/v1 -> /etc``).
    """
    target = (root / check_relative(relative)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"{relative!r} leads outside {root} (through a symbolic link)")
    return target


RelativePath = Annotated[str, AfterValidator(check_relative)]
"""A path relative to a folder, in normal form: never absolute, never ``..``."""

PathName = Annotated[str, AfterValidator(check_name)]
"""One folder name (a model version such as ``v1``)."""

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A sha256 digest in lower-case hex."""
