"""Resolve the environment an activity acts on, from Chaos Toolkit's ``configuration``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drillkit.errors import SpecError
from drillkit.platforms import open_platform
from drillkit.platforms.base import Platform
from drillkit.spec import load_environment

ENV_KEY = "drillkit_env"
REQUEST_LOG_KEY = "drillkit_request_log"
TRACE_KEY = "drillkit_trace"  # the drill's trace: a rollout compares its canary on its rows
SPEED_KEY = "drillkit_load_speed"  # the drill's replay speed: a surge multiplies it
Configuration = Mapping[str, Any] | None


def environment_file(configuration: Configuration) -> Path:
    """The environment YAML named by ``configuration['drillkit_env']`` (or ``$DRILLKIT_ENV``)."""
    path = (configuration or {}).get(ENV_KEY) or os.environ.get("DRILLKIT_ENV")
    if not path:
        raise SpecError("experiment", f"configuration.{ENV_KEY}", "no environment named",
                        f"set configuration.{ENV_KEY} to an environment YAML, or export DRILLKIT_ENV")  # fmt: skip
    return Path(path)


def pin_environment(experiment: dict[str, Any], path: Path) -> dict[str, Any]:
    """A copy of ``experiment`` whose activities act on the environment file ``path``."""
    return {**experiment, "configuration": {**(experiment.get("configuration") or {}), ENV_KEY: str(path)}}


def platform_for(configuration: Configuration) -> Platform:
    """The platform of the experiment's environment."""
    path = environment_file(configuration)
    return open_platform(load_environment(path), spec_file=str(path))


def targets(platform: Platform, target: str) -> list[str]:
    """Node names for a region name or a node name (``primary`` or ``primary-0``)."""
    nodes = platform.node_names(target)
    if nodes:
        return nodes
    if target in platform.node_names():
        return [target]
    raise SpecError("experiment", "target", f"no region or node {target!r}",
                    f"use one of: {', '.join(platform.node_names())} or their regions")  # fmt: skip
