"""The journal's ``scaling`` section: every scale-out the autoscaler made while the drill ran,
how long each took to serve, and the nodes' count over time.

``time_to_scale_s`` runs from the autoscaler's request to the new nodes UP at the gateway;
``first_request_s`` to the first user request one of them answered (from the request log).
The checks on it are decided in :func:`drillkit.verdict.scaling_checks`.

>>> scaling_section([], None) is None   # no autoscaler in this drill
True
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from drillkit.events import Event, Replicas, Scaled, ScaleRefused
from drillkit.units import Record


class ScaleOut(Record):
    region: str
    from_nodes: int
    to_nodes: int
    nodes: list[str]
    requested_at: float
    serving_at: float
    trigger_p99_ms: float | None = None
    time_to_scale_s: float = Field(description="from the request to the new nodes UP at the gateway")
    first_request_s: float | None = Field(None, description="from the request to the first user request a new node answered")


class ScalingSection(Record):
    scale_outs: list[ScaleOut] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list, description="scale-outs the autoscaler wanted but could not make (at max_nodes)")
    replicas: list[dict[str, float | int | str | None]] = Field(default_factory=list, description="observed node counts over time")


def scaling_section(events: list[Event], log: pd.DataFrame | None) -> ScalingSection | None:
    """The section (None when nothing scaled, was refused or was observed)."""
    scaled = [e for e in events if isinstance(e, Scaled)]
    refused = [f"{e.region}: {e.reason}" for e in events if isinstance(e, ScaleRefused)]
    observed = [{"at": e.at, "region": e.region, "nodes": e.nodes, "ready": e.ready} for e in events if isinstance(e, Replicas)]
    if not scaled and not refused and not observed:
        return None
    outs = [ScaleOut(region=e.region, from_nodes=e.from_nodes, to_nodes=e.to_nodes, nodes=e.nodes, requested_at=e.requested_at,
                     serving_at=e.serving_at, trigger_p99_ms=e.trigger_p99_ms, time_to_scale_s=e.time_to_scale_s,
                     first_request_s=_first_request(log, e)) for e in scaled]  # fmt: skip
    return ScalingSection(scale_outs=outs, refused=refused, replicas=observed)


def _first_request(log: pd.DataFrame | None, e: Scaled) -> float | None:
    if log is None or not len(log):
        return None
    served = log[(log["outcome"] == "ok") & log["node"].isin(e.nodes) & (log["sent_at"] >= e.requested_at)]
    return float(served["sent_at"].min() - e.requested_at) if len(served) else None
