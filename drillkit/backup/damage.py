"""Data faults on a region's model repository, and what they do to its nodes.

A region that loses its repository keeps serving from memory until its nodes restart (a
crash, a rollout, a rescheduled pod). The faults crash and restart the nodes by default, and
the nodes refuse to start without a verified model (the manifest check), so the region goes
down and the gateway fails over to the standby; ``restart=False`` leaves the loss latent.

>>> versions = destroy_repository(platform.region_repository("primary"))   # doctest: +SKIP
>>> refused = restart_refusing(platform, platform.node_names("primary"))   # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from drillkit.errors import StartupError
from drillkit.model import repository
from drillkit.platforms.base import Health, Platform


def destroy_repository(root: Path) -> list[str]:
    """Delete the repository folder with every version; return the versions it held."""
    versions = repository.versions(root)
    shutil.rmtree(root, ignore_errors=True)
    return versions


def corrupt_weights(version_dir: Path, *, flips: int = 64) -> list[str]:
    """Flip ``flips`` bytes (spread over the data, past the .npy header) in every weights file."""
    files = sorted((version_dir / "weights").glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"{version_dir / 'weights'} holds no weights to corrupt")
    for path in files:
        _flip_bytes(path, flips)
    return [str(p.relative_to(version_dir.parent)) for p in files]


def _flip_bytes(path: Path, flips: int) -> None:
    size = path.stat().st_size
    header = min(128, size - 1)  # numpy's header: keep it loadable so only the checksum catches it
    step = max(1, (size - header) // max(1, flips))
    with open(path, "r+b") as f:
        for offset in range(header, size, step)[:flips]:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))


def restart_refusing(platform: Platform, nodes: list[str], *, settle_s: float = 30.0) -> list[str]:
    """Crash and restart ``nodes``; return those that refused to start (all of them, after data loss)."""
    for node in nodes:
        platform.kill_node(node)  # at once, as a crash loop or a rescheduled pod would
    try:
        platform.restart_nodes(nodes)
    except StartupError:
        pass  # the first refusal ends the wait; the others fail their own manifest check
    deadline = time.monotonic() + settle_s
    while True:
        health = {c.name: c.health for c in platform.status().nodes() if c.name in nodes}
        settled = all(h in (Health.DEAD, Health.READY) for h in health.values())
        if settled or time.monotonic() > deadline:
            return [n for n in nodes if health.get(n) is Health.DEAD]
        time.sleep(0.2)
