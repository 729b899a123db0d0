"""Platforms: where an environment runs. ``open_platform`` picks the implementation.

>>> platform = open_platform(load_environment("drills/environments/local.yaml"))  # doctest: +SKIP
>>> platform.status().up                                                          # doctest: +SKIP
False
"""

from __future__ import annotations

from collections.abc import Iterable

from drillkit.errors import NotUpError
from drillkit.platforms.base import EnvironmentStatus, Platform
from drillkit.spec import EnvironmentSpec

__all__ = ["Platform", "open_platform", "require_up"]


def open_platform(spec: EnvironmentSpec, *, spec_file: str | None = None, allow_contexts: Iterable[str] = ()) -> Platform:
    """The platform that runs ``spec`` (``spec.platform``).

    ``allow_contexts``: Kubernetes contexts that look like production and may be touched
    anyway (``--allow-context``); ``$DRILLKIT_ALLOW_CONTEXTS`` adds to them, so drills and a
    stock ``chaos run`` can be allowed too.
    """
    if spec.platform == "kubernetes":
        from drillkit.platforms.k8s.clusters import allowed_from_environment
        from drillkit.platforms.kubernetes import KubernetesPlatform

        allowed = [*allow_contexts, *allowed_from_environment()]
        if spec.attached:
            from drillkit.platforms.attached import AttachedPlatform

            return AttachedPlatform(spec, spec_file=spec_file, allow_contexts=allowed)
        return KubernetesPlatform(spec, spec_file=spec_file, allow_contexts=allowed)
    from drillkit.platforms.local import LocalPlatform

    return LocalPlatform(spec, spec_file=spec_file)


def require_up(platform: Platform) -> EnvironmentStatus:
    """The status of a running environment, or NotUpError naming the fix."""
    status = platform.status()
    if not status.up:
        raise NotUpError(f"environment {platform.name!r} is not up: run `drillkit up` first")
    return status
