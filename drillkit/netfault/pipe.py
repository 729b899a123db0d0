"""The data path: asyncio protocols that pipe each accepted connection to its upstream.

Pass-through is one ``transport.write`` per chunk, with flow control only (a side whose
peer's write buffer is full stops reading), so the proxy adds little on loopback. Under a
fault, each direction queues its chunks in a ``Lane`` and a pump task releases them in order
when latency, blackhole and bandwidth allow. A fault change wakes the pumps, so it applies
to open connections at once. EOF is forwarded after the queued bytes (half-close works);
a pipe closes once both directions have forwarded EOF, and an error on one side resets both.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from typing import cast

from drillkit.netfault.proxy import Direction, Route

_HIGH_WATER = 1 << 20  # queued bytes per lane before the sender is paused


class Lane:
    """One direction of a pipe: direct writes when allowed, an ordered queue otherwise."""

    def __init__(self, pipe: Pipe, direction: Direction) -> None:
        self.pipe, self.route, self.direction = pipe, pipe.route, direction
        self.out: asyncio.Transport | None = None  # None until the upstream is connected
        self.queue: deque[tuple[float, bytes]] = deque()  # (release time, chunk)
        self.queued = 0
        self.eof = self.eof_sent = False
        self.out_paused = False  # the out transport's write buffer is above its high-water mark
        self.source_paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._ready_at: float | None = None  # when the head's bandwidth reservation is due
        self._pump: asyncio.Task[None] | None = None

    def send(self, data: bytes) -> None:
        """Forward ``data`` now if the route allows, else queue it behind earlier chunks."""
        if self.out is not None and not self.queue and self.route.passthrough[self.direction]:
            self.out.write(data)
            return
        now = time.monotonic()
        release = now + self.route.draw_delay() if self.direction is Direction.UP else now
        self.queue.append((max(release, self.queue[-1][0]) if self.queue else release, data))
        self.queued += len(data)
        self._update_source()
        self._kick()

    def finish(self) -> None:
        """The sender closed its side: forward EOF once everything queued is out."""
        self.eof = True
        if not self.queue and self.out is not None and self.route.passthrough[self.direction]:
            self._send_eof()
        else:
            self._kick()

    def set_out_paused(self, paused: bool) -> None:
        """Flow control from the out transport (its protocol's pause/resume_writing)."""
        self.out_paused = paused
        self._writable.clear() if paused else self._writable.set()
        self._update_source()

    def stalled(self) -> bool:
        return bool(self.queue) or (self.eof and not self.eof_sent)

    def cancel(self) -> None:
        if self._pump is not None:
            self._pump.cancel()

    def _kick(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    def _update_source(self) -> None:
        """Pause the sender while this lane is full or its receiver is slow; resume after."""
        paused = self.out_paused or self.queued > _HIGH_WATER or (self.source_paused and self.queued > _HIGH_WATER // 2)
        source = self.pipe.client if self.direction is Direction.UP else self.pipe.upstream
        if paused == self.source_paused or source is None or source.is_closing():
            return
        self.source_paused = paused
        source.pause_reading() if paused else source.resume_reading()

    async def _run_pump(self) -> None:
        while (self.queue or self.eof) and not self.eof_sent:
            if self.route.fault.blackhole:
                await self.route.changed()
            elif self.out is None:
                await self.pipe.upstream_ready.wait()
            elif not self.queue:
                self._send_eof()
            elif self.out_paused:
                await self._writable.wait()
            elif (wait := self._head_wait()) > 0:
                await self.route.changed(wait)  # a fault change re-times the head at once
            else:
                self._write_head()

    def _head_wait(self) -> float:
        """Seconds until the head chunk may go: its latency release, then bandwidth tokens."""
        now = time.monotonic()
        release, data = self.queue[0]
        if self.route.fault.latency_ms > 0 and release > now:
            return release - now
        bucket = self.route.buckets[self.direction]
        if bucket.rate is None:
            return 0.0
        if self._ready_at is None:
            size = bucket.slice_size()
            if len(data) > size:  # the rest keeps its place at the head of the queue
                self.queue[0] = (release, data[size:])
                self.queue.appendleft((release, data[:size]))
            self._ready_at = now + bucket.reserve(min(size, len(data)))
        return self._ready_at - now

    def _write_head(self) -> None:
        assert self.out is not None
        _, data = self.queue.popleft()
        self._ready_at = None
        self.queued -= len(data)
        self.out.write(data)
        self._update_source()

    def _send_eof(self) -> None:
        self.eof_sent = True
        if self.out is not None and not self.out.is_closing() and self.out.can_write_eof():
            self.out.write_eof()
        self.pipe.close_if_done()


class Pipe:
    """A client connection and its upstream connection."""

    def __init__(self, route: Route, client: asyncio.Transport) -> None:
        self.route, self.client = route, client
        self.upstream: asyncio.Transport | None = None
        self.upstream_ready = asyncio.Event()
        self.up, self.down = Lane(self, Direction.UP), Lane(self, Direction.DOWN)
        self.down.out = client
        self.closed = False
        self._connecting: asyncio.Task[None] | None = None  # held: the loop keeps only weak refs

    def start(self) -> None:
        """Reset the new connection by chance, else dial the upstream."""
        if self.route.draw_reset():
            self.reset()
        else:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    def stalled(self) -> bool:
        """Traffic is held, or the upstream was never dialled (read under a blackhole)."""
        return self.upstream is None or self.up.stalled() or self.down.stalled()

    async def _connect(self) -> None:
        while self.route.fault.blackhole:  # a partitioned upstream is not even dialled
            await self.route.changed()
        host, port = self.route.config.upstream_host, self.route.config.upstream_port
        try:
            transport, _ = await asyncio.get_running_loop().create_connection(lambda: UpstreamSide(self), host, port)
        except OSError:
            self.abort()  # the node is down: the client sees the connection fail, not hang
            return
        if self.closed:
            transport.abort()
            return
        _nodelay(transport)
        self.upstream = self.up.out = cast(asyncio.Transport, transport)
        self.upstream_ready.set()
        if self.up.queue or self.up.eof:
            self.up._kick()

    def reset(self) -> None:
        """The fault resets this connection: both peers get an RST."""
        self.route.counters.resets += 1
        self.abort()

    def abort(self) -> None:
        """Drop both sides at once with an RST (one side failed, or a reset fault)."""
        for transport in (self.client, self.upstream):
            if transport is not None and not transport.is_closing():
                _abort_with_rst(transport)
        self.close()

    def close(self) -> None:
        """Close both sides after their buffered bytes are written."""
        if self.closed:
            return
        self.closed = True
        self.route.pipes.discard(self)
        if self._connecting is not None:
            self._connecting.cancel()
        self.up.cancel()
        self.down.cancel()
        for transport in (self.client, self.upstream):
            if transport is not None and not transport.is_closing():
                transport.close()

    def close_if_done(self) -> None:
        if self.up.eof_sent and self.down.eof_sent:
            self.close()


class ClientSide(asyncio.Protocol):
    """The accepted connection (from the gateway)."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.pipe: Pipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        _nodelay(client)
        self.route.counters.connections_total += 1
        self.pipe = Pipe(self.route, client)
        self.route.pipes.add(self.pipe)
        self.pipe.start()

    def data_received(self, data: bytes) -> None:
        pipe = cast(Pipe, self.pipe)
        self.route.counters.bytes_up += len(data)
        if self.route.fault.reset_ratio and self.route.draw_reset():
            pipe.reset()
        else:
            pipe.up.send(data)

    def eof_received(self) -> bool:
        cast(Pipe, self.pipe).up.finish()
        return True  # keep our write side open for the rest of the response

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pipe is not None:
            self.pipe.abort() if exc is not None else self.pipe.close()

    def pause_writing(self) -> None:
        cast(Pipe, self.pipe).down.set_out_paused(True)

    def resume_writing(self) -> None:
        cast(Pipe, self.pipe).down.set_out_paused(False)


class UpstreamSide(asyncio.Protocol):
    """The connection to the node."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def data_received(self, data: bytes) -> None:
        self.pipe.route.counters.bytes_down += len(data)
        self.pipe.down.send(data)

    def eof_received(self) -> bool:
        self.pipe.down.finish()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.abort() if exc is not None else self.pipe.close()

    def pause_writing(self) -> None:
        self.pipe.up.set_out_paused(True)

    def resume_writing(self) -> None:
        self.pipe.up.set_out_paused(False)


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _abort_with_rst(transport: asyncio.BaseTransport) -> None:
    # SO_LINGER 0 makes close() send RST instead of FIN: the peer sees "connection reset"
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cast(asyncio.Transport, transport).abort()
