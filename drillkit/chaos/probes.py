"""Chaos Toolkit probes: node readiness, gateway view, who serves, and what users feel.

``recent_error_ratio`` and ``recent_p99_ms`` read the live request log of the running drill
(``configuration['drillkit_request_log']``), the same numbers the drill is judged by.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from drillkit.chaos.context import REQUEST_LOG_KEY, Configuration, platform_for
from drillkit.errors import SpecError
from drillkit.model.client import RecommenderClient
from drillkit.platforms.base import Health
from drillkit.request_log import read_request_log

__all__ = ["node_ready", "gateway_backends", "serving_region", "gateway_answers", "recent_error_ratio", "recent_p99_ms"]


def node_ready(node: str, *, configuration: Configuration = None) -> bool:
    """True when the node runs and answers its readiness check."""
    status = platform_for(configuration).status()
    return any(c.name == node and c.health is Health.READY for c in status.nodes())


def gateway_backends(*, configuration: Configuration = None) -> dict[str, str]:
    """Each node's state as the gateway sees it (UP, DOWN, ...)."""
    return {c.name: c.gateway_state or "unknown" for c in platform_for(configuration).status().nodes()}


def serving_region(*, configuration: Configuration = None) -> str:
    """The region that answers a request through the gateway right now ('' when none does)."""
    reply = RecommenderClient(platform_for(configuration).status().gateway_url or "", timeout_s=3).recommend(0, 10)
    return reply.region or "" if reply.error is None else ""


def gateway_answers(*, configuration: Configuration = None) -> bool:
    """True when a recommend request through the gateway succeeds."""
    url = platform_for(configuration).status().gateway_url or ""
    return RecommenderClient(url, timeout_s=3).recommend(0, 10).error is None


def recent_error_ratio(window_s: float = 5.0, *, configuration: Configuration = None) -> float:
    """Share of failed requests among those scheduled in the last ``window_s`` seconds."""
    recent = _recent(configuration, window_s)
    return float((recent["outcome"] != "ok").mean()) if len(recent) else 0.0


def recent_p99_ms(window_s: float = 5.0, *, configuration: Configuration = None) -> float:
    """p99 latency (ms) of the requests scheduled in the last ``window_s`` seconds."""
    recent = _recent(configuration, window_s)
    return float(recent["latency_s"].quantile(0.99) * 1e3) if len(recent) else 0.0


def _recent(configuration: Configuration, window_s: float) -> Any:
    path = (configuration or {}).get(REQUEST_LOG_KEY)
    if not path:
        raise SpecError("experiment", f"configuration.{REQUEST_LOG_KEY}", "no request log to read",
                        "run the experiment with `drillkit run`, which sets it")  # fmt: skip
    log = read_request_log(Path(path))
    return log[log["scheduled_at"] >= time.time() - window_s]
