"""Network faults of one route, and the config / ready-file models of the proxy.

The kernel here has no ``netem`` qdisc and no iptables, so network faults are made in
userspace, by the proxy that sits between the gateway and every node.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Fault(BaseModel):
    """What a route does to its traffic. The default is a clean pass-through.

    - ``latency_ms`` ± uniform ``jitter_ms``: each chunk from client to upstream is held that
      long (byte order kept), so one request/response exchange is slowed by about that much;
    - ``reset_ratio``: a new connection, or a request chunk on an open one, is reset (RST)
      with this probability;
    - ``blackhole``: a partition: nothing moves in either direction and nothing is closed;
      stalled connections resume when it is cleared (as TCP would after retransmits);
    - ``bandwidth_kbps``: a token bucket per direction, shared by the route's connections.

    >>> Fault(latency_ms=100, jitter_ms=20).is_clear
    False
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(0.0, ge=0, le=600_000)
    jitter_ms: float = Field(0.0, ge=0)
    reset_ratio: float = Field(0.0, ge=0, le=1)
    blackhole: bool = False
    bandwidth_kbps: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _jitter_within_latency(self) -> Fault:
        if self.jitter_ms > self.latency_ms:
            raise ValueError(f"jitter_ms ({self.jitter_ms}) must not exceed latency_ms ({self.latency_ms})")
        return self

    @property
    def is_clear(self) -> bool:
        return self == Fault()


class RouteConfig(BaseModel):
    """One listening port and the upstream it forwards to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    listen_port: int = Field(0, ge=0, le=65535)  # 0: a free port, reported in the ready file
    upstream_host: str = "127.0.0.1"
    upstream_port: int = Field(ge=1, le=65535)
    seed: int | None = None  # for reproducible reset / jitter draws


class ProxyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: tuple[RouteConfig, ...]


class RouteStats(BaseModel):
    connections_total: int = 0
    connections_active: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    resets: int = 0
    stalled_connections: int = 0


class RouteState(BaseModel):
    """A route as the control API reports it."""

    name: str
    listen_port: int
    upstream: str
    fault: Fault
    stats: RouteStats


class ProxyReady(BaseModel):
    """Written by the proxy once every port is bound."""

    pid: int
    control_port: int
    routes: dict[str, int]  # route name -> listen port


def write_config(path: Path, routes: list[RouteConfig]) -> None:
    """Write the proxy's routes file."""
    path.write_text(ProxyConfig(routes=tuple(routes)).model_dump_json(indent=2))


def read_config(path: Path) -> ProxyConfig:
    return ProxyConfig.model_validate(json.loads(path.read_text()))


def write_ready_file(path: Path, ready: ProxyReady) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ready.model_dump_json())
    os.replace(tmp, path)  # readers never see half a file


def read_ready_file(path: Path) -> ProxyReady:
    return ProxyReady.model_validate(json.loads(path.read_text()))
