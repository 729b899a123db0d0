"""Chaos Toolkit probes: node readiness, gateway view, who serves, and what users feel.

``recent_error_ratio`` and ``recent_p99_ms`` read the live request log of the running drill
(``configuration['drillkit_request_log']``), the same numbers the drill is judged by.
"""

from __future__ import annotations

import http.client
import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from drillkit.chaos.context import REQUEST_LOG_KEY, Configuration, platform_for
from drillkit.errors import SpecError
from drillkit.headers import REGION_HEADER
from drillkit.model.repository import verify
from drillkit.netutil import http_status
from drillkit.platforms.base import Health
from drillkit.request_log import read_request_log
from drillkit.smoke import run_probes
from drillkit.spec import model_cache
from drillkit.workload.golden import GoldenSet, golden_path, recorded_or_builtin

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
    platform = platform_for(configuration)
    url = platform.status().gateway_url or ""
    golden, models = _golden(model_cache(platform.spec) / platform.spec.model.version)
    if golden is None:
        return _ready_region(url, models[0])
    first = run_probes(url, golden, limit=1, timeout_s=3)[:1]
    return (first[0].region or "") if first and first[0].error is None else ""


def _ready_region(url: str, model: str) -> str:
    """The region header on a model's readiness answer through the gateway ('' when not ready)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=3)
    try:
        conn.request("GET", f"/v2/models/{quote(model, safe='')}/ready")
        response = conn.getresponse()
        response.read()
        return response.getheader(REGION_HEADER, "") if response.status == 200 else ""
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        conn.close()


def gateway_answers(*, configuration: Configuration = None) -> bool:
    """True when the first golden probe of each model, sent through the gateway, gets the golden
    answer (where none were recorded yet for a user's model: when each model is ready there)."""
    platform = platform_for(configuration)
    url = platform.status().gateway_url or ""
    golden, models = _golden(model_cache(platform.spec) / platform.spec.model.version)
    if golden is None:
        return all(http_status(f"{url}/v2/models/{quote(m, safe='')}/ready", timeout_s=3) == 200 for m in models)
    return all(r.ok for r in run_probes(url, golden, limit=1, timeout_s=3))


def _golden(version_dir: Path) -> tuple[GoldenSet | None, tuple[str, ...]]:
    """The version's golden set and models, verified once per change of its files (a probe runs
    before and after every fault; hashing a large model each time would slow the drill)."""
    stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (version_dir / "manifest.json", golden_path(version_dir)))
    return _verified_golden(str(version_dir), stamp)


@lru_cache(maxsize=8)
def _verified_golden(version_dir: str, _stamp: tuple[int, ...]) -> tuple[GoldenSet | None, tuple[str, ...]]:
    manifest = verify(Path(version_dir))
    return recorded_or_builtin(Path(version_dir), manifest), manifest.models


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
