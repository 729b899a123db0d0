"""The release and commit under test, recorded in every journal (section ``release``).

``DRILLKIT_RELEASE`` / ``DRILLKIT_COMMIT`` win (a pipeline knows what it deploys); otherwise
``git describe --tags --always --dirty`` and ``git rev-parse HEAD`` of the working
directory; ``None`` when neither is known.

>>> release_under_test(environ={"DRILLKIT_RELEASE": "v2.4.0", "DRILLKIT_COMMIT": "abc123"})
{'release': 'v2.4.0', 'commit': 'abc123'}
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


def release_under_test(*, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, str | None]:
    """``{"release": ..., "commit": ...}`` of what is being drilled."""
    env = os.environ if environ is None else environ
    release = env.get("DRILLKIT_RELEASE") or _git(["describe", "--tags", "--always", "--dirty"], cwd)
    commit = env.get("DRILLKIT_COMMIT") or _git(["rev-parse", "HEAD"], cwd)
    return {"release": release, "commit": commit}


def _git(args: list[str], cwd: Path | None) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git, or a hung filesystem: the release is simply unknown
    return done.stdout.strip() or None if done.returncode == 0 else None
