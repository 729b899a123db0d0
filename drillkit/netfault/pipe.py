"""The data path: asyncio protocols that pipe each accepted connection to its upstream.

Each direction of a pipe is a ``Lane`` (``lane.py``): pass-through, or queued while a fault
holds its chunks. A pipe closes once both directions have forwarded EOF, and an error on one
side resets both.

A connection whose node refuses the dial (the node is down; see ``Route.refuse_connections``)
was already accepted, so it cannot be refused any more: it ends as a node that closes before
answering would, with a FIN and nothing sent, and what the client still sends is read and
dropped, so no RST follows. The gateway sees an empty response, which it may retry, as it
would have retried the refused connect.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import cast

from drillkit.netfault.lane import Lane
from drillkit.netfault.proxy import Direction, Route

_REFUSED_LINGER_S = 5.0  # a refused connection is closed by then even if the client never closes its side


class Pipe:
    """A client connection and its upstream connection."""

    def __init__(self, route: Route, client: asyncio.Transport) -> None:
        self.route, self.client = route, client
        self.upstream: asyncio.Transport | None = None
        self.upstream_ready = asyncio.Event()
        self.up, self.down = Lane(self, Direction.UP), Lane(self, Direction.DOWN)
        self.down.out = client
        self.closed = self.refused = False
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
        except ConnectionRefusedError:
            self.route.refuse_connections()  # the node's port is closed: the gateway's next connects are refused
            self.refuse()  # this one was accepted before we knew
            return
        except OSError:
            self.abort()
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

    def refuse(self) -> None:
        """The node refused the dial: FIN the client with nothing sent, drop what it still sends."""
        if self.closed:
            return
        self.refused = True
        self._detach()
        if self.client.is_closing() or not self.client.can_write_eof():
            self.client.close()
            return
        self.client.write_eof()  # the client's EOF then closes it (``ClientSide.eof_received``)
        asyncio.get_running_loop().call_later(_REFUSED_LINGER_S, self.client.close)

    def close(self) -> None:
        """Close both sides after their buffered bytes are written."""
        if self.closed:
            return
        self._detach()
        for transport in (self.client, self.upstream):
            if transport is not None and not transport.is_closing():
                transport.close()

    def _detach(self) -> None:
        self.closed = True
        self.route.pipes.discard(self)
        if self._connecting is not None:
            self._connecting.cancel()
        self.up.cancel()
        self.down.cancel()

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
        if pipe.refused:
            return  # read and dropped: unread bytes would turn our FIN into an RST
        if self.route.fault.reset_ratio and self.route.draw_reset():
            pipe.reset()
        else:
            pipe.up.send(data)

    def eof_received(self) -> bool:
        pipe = cast(Pipe, self.pipe)
        if pipe.refused:
            return False  # both sides are done: close
        pipe.up.finish()
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
