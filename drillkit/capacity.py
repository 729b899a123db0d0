"""The capacity pre-check: may the standby take the primary's load before we break it?

Three conditions, each measured, none assumed:
- every standby node is ready and UP at the gateway;
- every standby node answers the golden probes like the primary (the same model version);
- headroom: from Triton's own counters over the warm-up, a node spends ``t`` seconds per
  request, so ``n`` standby nodes serve at most ``n / t`` requests/s; that must exceed the
  warm-up's request rate by ``HEADROOM``.
"""

from __future__ import annotations

import http.client
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from drillkit.errors import ComponentError
from drillkit.model.client import RecommenderClient
from drillkit.model.repository import Manifest
from drillkit.platforms.base import ComponentStatus, EnvironmentStatus, Health
from drillkit.smoke import send_probe

HEADROOM = 1.25
_SUCCESS = "nv_inference_request_success"
_DURATION = "nv_inference_request_duration_us"


@dataclass(frozen=True)
class Capacity:
    ok: bool
    reason: str
    standby_ready: int
    standby_nodes: int
    same_model: bool
    seconds_per_request: float | None
    standby_capacity_rps: float | None
    warmup_rps: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def counters(node: ComponentStatus) -> tuple[float, float]:
    """(successful requests, microseconds spent on them) from a node's Triton metrics."""
    parts = urlsplit(node.metrics_url or "")
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=3)
    try:
        conn.request("GET", parts.path or "/metrics")
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException) as exc:  # an environment error: a suite tries the drill again
        raise ComponentError(f"node {node.name}: its metrics at {node.metrics_url} do not answer ({exc}); "
                             "is it serving? `drillkit status`") from exc  # fmt: skip
    finally:
        conn.close()
    success = duration = 0.0
    for line in text.splitlines():
        if line.startswith(_SUCCESS + "{"):
            success += float(line.rsplit(" ", 1)[1])
        elif line.startswith(_DURATION + "{"):
            duration += float(line.rsplit(" ", 1)[1])
    return success, duration


def check(status: EnvironmentStatus, standby: list[str], manifest: Manifest, primary_counters: dict[str, tuple[tuple[float, float], tuple[float, float]]],
          warmup_rps: float) -> Capacity:  # fmt: skip
    """Judge the standby regions' capacity (``primary_counters``: node -> (before, after) of the warm-up)."""
    nodes = [n for n in status.nodes() if n.region in standby]
    ready = [n for n in nodes if n.health is Health.READY and n.gateway_state == "UP"]
    same = all(send_probe(RecommenderClient(n.endpoint or ""), manifest.golden.recommend[0]).ok for n in ready)
    served = sum(after[0] - before[0] for before, after in primary_counters.values())
    spent_us = sum(after[1] - before[1] for before, after in primary_counters.values())
    per_request = spent_us / 1e6 / served if served > 0 else None
    capacity = len(ready) / per_request if per_request else None
    reason = _reason(len(ready), len(nodes), same, capacity, warmup_rps)
    return Capacity(reason == "", reason or "the standby can take the load", len(ready), len(nodes), same, per_request, capacity, warmup_rps)


def _reason(ready: int, total: int, same: bool, capacity: float | None, rps: float) -> str:
    if ready < total or ready == 0:
        return f"only {ready} of {total} standby nodes are ready and UP at the gateway"
    if not same:
        return "a standby node answers the golden probes differently: it serves another model version"
    if capacity is None:
        return "no request reached the primary during warm-up, so its cost per request is unknown"
    if capacity < HEADROOM * rps:
        return f"the standby serves at most {capacity:.0f} req/s, less than {HEADROOM:g} x the {rps:.0f} req/s of warm-up"
    return ""
