"""The data path: asyncio protocols that pipe each accepted connection to its upstream.

With no fault, bytes go straight from one transport to the other (flow control only), so
the proxy adds well under a millisecond. With a fault, each direction queues its chunks in
a ``Lane`` and a pump releases them when latency, bandwidth and blackhole allow, in order.
Changing a route's fault wakes every pump, so it applies to open connections at once.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import deque
from typing import cast

from drillkit.netfault.faults import Fault, RouteConfig, RouteState, RouteStats

_HIGH_WATER = 1 << 20  # queued bytes per lane before the sender is paused


class Route:
    """One listening port, its upstream, its current fault and its open connections."""

    def __init__(self, config: RouteConfig) -> None:
        self.config = config
        self.fault = Fault()
        self.stats = RouteStats()
        self.rng = random.Random(config.seed)
        self.pipes: set[Pipe] = set()
        self.listen_port = config.listen_port
        self.server: asyncio.base_events.Server | None = None
        self._changed = asyncio.Event()
        self._buckets = {"up": _Bucket(), "down": _Bucket()}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: ClientSide(self), "127.0.0.1", self.config.listen_port)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    def set_fault(self, fault: Fault) -> None:
        """Apply ``fault`` to new and open connections (wakes every waiting pump)."""
        self.fault = fault
        rate = fault.bandwidth_kbps
        for bucket in self._buckets.values():
            bucket.set_rate(rate * 1000 / 8 if rate else None)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self) -> None:
        await self._changed.wait()

    def bucket(self, direction: str) -> _Bucket:
        return self._buckets[direction]

    def chance(self) -> bool:
        """One draw against ``reset_ratio``."""
        return self.fault.reset_ratio > 0 and self.rng.random() < self.fault.reset_ratio

    def state(self) -> RouteState:
        stalled = sum(1 for p in self.pipes if p.stalled()) if self.fault.blackhole else 0
        stats = self.stats.model_copy(update={"connections_active": len(self.pipes), "stalled_connections": stalled})
        upstream = f"{self.config.upstream_host}:{self.config.upstream_port}"
        return RouteState(name=self.config.name, listen_port=self.listen_port, upstream=upstream, fault=self.fault, stats=stats)


class _Bucket:
    """A token bucket in bytes per second (None: unlimited), burst of 1/10 s."""

    def __init__(self) -> None:
        self.rate: float | None = None
        self.tokens = 0.0
        self.stamp = 0.0

    def set_rate(self, rate: float | None) -> None:
        self.rate, self.tokens = rate, 0.0
        self.stamp = asyncio.get_running_loop().time()

    def delay_for(self, size: int) -> float:
        """Take ``size`` bytes; return how long to wait before sending them."""
        if self.rate is None:
            return 0.0
        now = asyncio.get_running_loop().time()
        self.tokens = min(self.rate / 10, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= size
        return max(0.0, -self.tokens / self.rate)


class Lane:
    """One direction of a pipe: direct writes when clear, an ordered queue under a fault."""

    def __init__(self, pipe: Pipe, direction: str) -> None:
        self.pipe, self.direction = pipe, direction
        self.out: asyncio.Transport | None = None
        self.queue: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.pump: asyncio.Task[None] | None = None
        self.eof = False

    def _delay(self) -> float:
        fault = self.pipe.route.fault
        if self.direction != "up" or fault.latency_ms == 0:
            return 0.0
        jitter = self.pipe.route.rng.uniform(-fault.jitter_ms, fault.jitter_ms) if fault.jitter_ms else 0.0
        return (fault.latency_ms + jitter) / 1000

    def send(self, data: bytes) -> None:
        fault = self.pipe.route.fault
        if self.out is not None and not self.queue and fault.is_clear:
            self.out.write(data)
            return
        now = asyncio.get_running_loop().time()
        release = max(now + self._delay(), self.queue[-1][0] if self.queue else now)
        self.queue.append((release, data))
        self.queued += len(data)
        if self.queued > _HIGH_WATER:
            self.pipe.source(self.direction).pause_reading()
        self._kick()

    def finish(self) -> None:
        """The sender closed its side: forward EOF once everything queued is out."""
        self.eof = True
        self._kick()

    def _kick(self) -> None:
        if self.pump is None or self.pump.done():
            self.pump = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        route = self.pipe.route
        while self.queue or self.eof:
            if route.fault.blackhole or self.out is None:
                await route.changed() if route.fault.blackhole else await self.pipe.upstream_ready.wait()
                continue
            if not self.queue:
                break
            release, data = self.queue[0]
            wait = max(release - asyncio.get_running_loop().time(), route.bucket(self.direction).delay_for(len(data)))
            if wait > 0:
                await asyncio.sleep(wait)
            if route.fault.blackhole:
                continue
            self.queue.popleft()
            self.queued -= len(data)
            self.out.write(data)
            if self.queued <= _HIGH_WATER // 2:
                self.pipe.source(self.direction).resume_reading()
        if self.eof and self.out is not None and self.out.can_write_eof() and not self.out.is_closing():
            self.out.write_eof()


class Pipe:
    """A client connection and its upstream connection."""

    def __init__(self, route: Route, client: asyncio.Transport) -> None:
        self.route, self.client = route, client
        self.upstream: asyncio.Transport | None = None
        self.upstream_ready = asyncio.Event()
        self.up, self.down = Lane(self, "up"), Lane(self, "down")
        self.down.out = client
        self.closed = False

    def source(self, direction: str) -> asyncio.Transport:
        """The transport that feeds ``direction`` (paused when its lane is full)."""
        return self.client if direction == "up" else (self.upstream or self.client)

    def stalled(self) -> bool:
        return bool(self.up.queue or self.down.queue) or self.upstream is None

    async def connect(self) -> None:
        while self.route.fault.blackhole:  # a partitioned upstream is not even dialled
            await self.route.changed()
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: UpstreamSide(self), self.route.config.upstream_host,
                                                        self.route.config.upstream_port)  # fmt: skip
        except OSError:
            self.reset()  # the node is down: the client sees the connection fail, not hang
            return
        if self.closed:
            transport.close()
            return
        _nodelay(transport)
        self.upstream = self.up.out = transport  # type: ignore[assignment]
        self.upstream_ready.set()
        self.up._kick()

    def reset(self) -> None:
        """Abort both sides; the client gets an RST."""
        self.route.stats.resets += 1
        _abort_with_rst(self.client)
        if self.upstream is not None:
            self.upstream.abort()
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.route.pipes.discard(self)
        for lane in (self.up, self.down):
            if lane.pump is not None:
                lane.pump.cancel()
        if not self.client.is_closing():
            self.client.close()
        if self.upstream is not None and not self.upstream.is_closing():
            self.upstream.close()


class ClientSide(asyncio.Protocol):
    """The accepted connection (from the gateway)."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.pipe: Pipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        _nodelay(client)
        self.route.stats.connections_total += 1
        self.pipe = Pipe(self.route, client)
        self.route.pipes.add(self.pipe)
        if self.route.chance():
            self.pipe.reset()
            return
        asyncio.get_running_loop().create_task(self.pipe.connect())

    def data_received(self, data: bytes) -> None:
        assert self.pipe is not None
        self.route.stats.bytes_up += len(data)
        if self.route.chance():
            self.pipe.reset()
            return
        self.pipe.up.send(data)

    def eof_received(self) -> bool:
        assert self.pipe is not None
        self.pipe.up.finish()
        return True  # keep our write side open for the rest of the response

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pipe is not None:
            self.pipe.close()

    def pause_writing(self) -> None:
        if self.pipe is not None and self.pipe.upstream is not None:
            self.pipe.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.pipe is not None and self.pipe.upstream is not None:
            self.pipe.upstream.resume_reading()


class UpstreamSide(asyncio.Protocol):
    """The connection to the node."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def data_received(self, data: bytes) -> None:
        self.pipe.route.stats.bytes_down += len(data)
        self.pipe.down.send(data)

    def eof_received(self) -> bool:
        self.pipe.down.finish()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.pipe.down.queue:
            self.pipe.close()
        else:  # deliver what the node sent before it closed, then close
            self.pipe.down.finish()

    def pause_writing(self) -> None:
        self.pipe.client.pause_reading()

    def resume_writing(self) -> None:
        self.pipe.client.resume_reading()


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _abort_with_rst(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
