"""Network faults of one route, and the config / ready-file models of the proxy.

The kernel here has no ``netem`` qdisc and no iptables, so network faults are made in
userspace, by the proxy that sits between the gateway and every node.

>>> Fault(latency_ms=100, jitter_ms=20).is_clear
False
>>> ProxyConfig(routes=[RouteConfig(name="primary-0", upstream_port=8000)]).routes[0].listen_port
0
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Fault(BaseModel):
    """What a route does to its traffic. The default is a clean pass-through.

    - ``latency_ms`` ± uniform ``jitter_ms``: each chunk from client to upstream is held that
      long, and never overtakes an earlier chunk (release = max(previous release, now + delay)).
      Only the request direction is delayed, so one request/response exchange is slowed by
      about ``latency_ms`` (not twice that), which is what a latency SLO is written against.
      Clearing the latency releases held chunks at once.
    - ``reset_ratio``: a new connection is reset (the client sees an RST) with this probability,
      and so is an open one on each chunk it sends upstream.
    - ``blackhole``: a partition. Nothing moves in either direction and nothing is closed; new
      connections are accepted but never dialled upstream. When cleared, held bytes are
      delivered, as TCP retransmission would after a short partition.
    - ``bandwidth_kbps``: kbit/s per direction, a token bucket shared by the route's
      connections (``None``: unlimited; for zero, use ``blackhole``).

    >>> Fault(latency_ms=150, jitter_ms=20).latency_ms
    150.0
    >>> try:
    ...     Fault(latency_ms=10, jitter_ms=50)
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, jitter_ms (50) must not exceed latency_ms (10): lower jitter_ms or raise latency_ms
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(0.0, ge=0, le=600_000, description="added to each request chunk, ms")
    jitter_ms: float = Field(0.0, ge=0, description="uniform ± around latency_ms; at most latency_ms")
    reset_ratio: float = Field(0.0, ge=0, le=1, description="probability of an RST per connection and per chunk")
    blackhole: bool = Field(False, description="partition: stall both directions, close nothing")
    bandwidth_kbps: float | None = Field(None, gt=0, description="kbit/s per direction; null: unlimited")

    @model_validator(mode="after")
    def _jitter_within_latency(self) -> Fault:
        if self.jitter_ms > self.latency_ms:
            raise ValueError(
                f"jitter_ms ({self.jitter_ms:g}) must not exceed latency_ms ({self.latency_ms:g}): "
                f"lower jitter_ms or raise latency_ms"
            )
        return self

    @property
    def is_clear(self) -> bool:
        """True when the route passes traffic untouched."""
        return self == _CLEAR


_CLEAR = Fault()


class RouteConfig(BaseModel):
    """One listening port on 127.0.0.1 and the upstream it forwards to.

    >>> RouteConfig(name="primary-0", upstream_port=8000, seed=7).upstream
    '127.0.0.1:8000'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the name is a path segment of the control API, so keep it URL-safe
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=100)
    listen_port: int = Field(0, ge=0, le=65535)  # 0: a free port, reported in the ready file
    upstream_host: str = "127.0.0.1"
    upstream_port: int = Field(ge=1, le=65535)
    seed: int | None = None  # seeds the route's reset / jitter draws (None: random)

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"


class ProxyConfig(BaseModel):
    """Every route of one proxy process (the ``--config`` file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: tuple[RouteConfig, ...]

    @model_validator(mode="after")
    def _unique(self) -> ProxyConfig:
        names = [r.name for r in self.routes]
        ports = [r.listen_port for r in self.routes if r.listen_port]
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique, got {names}: rename the duplicates")
        if len(set(ports)) != len(ports):
            raise ValueError(f"listen ports must be unique, got {ports}: use 0 to pick free ones")
        return self


class RouteStats(BaseModel):
    """Counters of one route since the proxy started."""

    connections_total: int = 0
    connections_active: int = 0
    bytes_up: int = 0  # client -> upstream, as received from the client
    bytes_down: int = 0  # upstream -> client, as received from the upstream
    resets: int = 0  # connections reset by the fault (not by the peers)
    stalled_connections: int = 0  # open connections whose traffic a blackhole holds right now


class RouteState(BaseModel):
    """A route as the control API reports it."""

    name: str
    listen_port: int
    upstream: str
    fault: Fault
    refusing: bool = False  # the upstream refused a connection and accepted none since: so does the port
    stats: RouteStats


class ProxyReady(BaseModel):
    """Written by the proxy (``--ready-file``) once every port is bound."""

    pid: int
    control_port: int
    routes: dict[str, int]  # route name -> listen port


def write_config(path: Path, routes: Sequence[RouteConfig]) -> None:
    """Write the proxy's ``--config`` file.

    >>> write_config(Path("routes.json"), [RouteConfig(name="a", upstream_port=8000)])  # doctest: +SKIP
    """
    _write_atomically(path, ProxyConfig(routes=tuple(routes)).model_dump_json(indent=2))


def read_config(path: Path) -> ProxyConfig:
    """Load and validate a ``--config`` file (raises ``OSError`` or ``pydantic.ValidationError``)."""
    return ProxyConfig.model_validate(json.loads(path.read_text()))


def write_ready_file(path: Path, ready: ProxyReady) -> None:
    """Write the ready file atomically: a waiting reader never sees half of it."""
    _write_atomically(path, ready.model_dump_json())


def read_ready_file(path: Path) -> ProxyReady:
    """The ports a running proxy bound.

    >>> read_ready_file(Path("netfault.ready.json")).routes["primary-0"]  # doctest: +SKIP
    40123
    """
    return ProxyReady.model_validate(json.loads(path.read_text()))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
