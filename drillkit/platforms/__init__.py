"""Platforms: where an environment runs. ``open_platform`` picks the implementation.

>>> platform = open_platform(load_environment("drills/environments/local.yaml"))  # doctest: +SKIP
>>> platform.status().up                                                          # doctest: +SKIP
False
"""

from __future__ import annotations

from drillkit.errors import NotUpError
from drillkit.platforms.base import EnvironmentStatus, Platform
from drillkit.spec import EnvironmentSpec

__all__ = ["Platform", "open_platform", "require_up"]


def open_platform(spec: EnvironmentSpec, *, spec_file: str | None = None) -> Platform:
    """The platform that runs ``spec`` (``spec.platform``)."""
    from drillkit.platforms.local import LocalPlatform

    return LocalPlatform(spec, spec_file=spec_file)


def require_up(platform: Platform) -> EnvironmentStatus:
    """The status of a running environment, or NotUpError naming the fix."""
    status = platform.status()
    if not status.up:
        raise NotUpError(f"environment {platform.name!r} is not up: run `drillkit up` first")
    return status
