"""One route of the proxy: its listening port, current fault, random draws, bucket and stats.

The data path itself (one ``Pipe`` per accepted connection) lives in ``pipe.py``; a route
owns the state its pipes share, so that a fault change reaches open connections at once.

A route mirrors its upstream's port: when the node refuses a connection (it crashed), the
route stops listening too, so the gateway's next connects are refused at once, as they would
be without the proxy, instead of being accepted and then reset. HAProxy treats the two very
differently: a refused connect is a connection failure, retried on another server and
counted against this one (``observe``), while an RST after the request went out is, in
HAProxy 2.6, a read error that is not retried; on a keep-alive client connection HAProxy
then closes that connection without an answer or a log line. The port stays bound meanwhile
(a second ``SO_REUSEPORT`` socket holds it), so no other socket can take it, and the route
listens again as soon as a probe connects to the node.

>>> route = Route(RouteConfig(name="primary-0", upstream_port=8000, seed=1))
>>> route.set_fault(Fault(reset_ratio=1.0)); route.draw_reset()
True
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

from drillkit.netfault.faults import Fault, RouteConfig, RouteState, RouteStats

if TYPE_CHECKING:
    from drillkit.netfault.pipe import Pipe

PROBE_INTERVAL_S = 0.02  # how soon a restarted node's port is mirrored again (checks run every 100+ ms)
_BACKLOG = 1024


class Direction(IntEnum):
    """Indexes ``Route.passthrough`` and ``Route.buckets`` (an int: cheap on the data path)."""

    UP = 0  # client -> upstream
    DOWN = 1  # upstream -> client


class Counters:
    """Plain counters: the data path bumps them per chunk, so no pydantic here."""

    __slots__ = ("connections_total", "bytes_up", "bytes_down", "resets")

    def __init__(self) -> None:
        self.connections_total = self.bytes_up = self.bytes_down = self.resets = 0


class Bucket:
    """A token bucket in bytes per second (``rate`` None: unlimited) with a 100 ms burst.

    Senders reserve tokens before they send (the balance may go negative), so a bucket shared
    by many connections keeps their sum under the rate.

    >>> bucket = Bucket(); bucket.set_rate(1000.0)
    >>> round(bucket.reserve(500), 1)   # 500 B at 1000 B/s with an empty bucket: wait 0.5 s
    0.5
    """

    def __init__(self) -> None:
        self.rate: float | None = None
        self._tokens = 0.0
        self._stamp = time.monotonic()

    def set_rate(self, rate: float | None) -> None:
        # start empty, so a new cap holds from its first byte
        self.rate, self._tokens, self._stamp = rate, 0.0, time.monotonic()

    def reserve(self, size: int) -> float:
        """Take ``size`` bytes' worth of tokens; seconds to wait before sending them."""
        if self.rate is None:
            return 0.0
        now = time.monotonic()
        self._tokens = min(self.rate / 10, self._tokens + (now - self._stamp) * self.rate) - size
        self._stamp = now
        return max(0.0, -self._tokens / self.rate)

    def slice_size(self) -> int:
        """Send a capped stream in slices of ~20 ms so it flows evenly, not in 64 kB lumps."""
        return 1 << 30 if self.rate is None else max(512, int(self.rate / 50))


class Route:
    """One listening port, its upstream, its current fault and its open connections."""

    def __init__(self, config: RouteConfig, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.listen_port = config.listen_port
        self.rng = random.Random(config.seed)
        self.pipes: set[Pipe] = set()
        self.counters = Counters()
        self.buckets = (Bucket(), Bucket())  # by Direction
        self.server: asyncio.AbstractServer | None = None
        self._log = log or (lambda _: None)
        self._held: socket.socket | None = None  # holds the port while the route refuses connections
        self._listener: socket.socket | None = None
        self._accepting: set[asyncio.Task[None]] = set()
        self._reopen: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.set_fault(Fault())

    @property
    def refusing(self) -> bool:
        """The node refused a connection and has accepted none since: the route's port is closed too."""
        return self._held is not None

    async def start(self) -> None:
        """Bind the listening port on 127.0.0.1 (port 0: a free one)."""
        await self._listen(_bound_socket(self.config.listen_port))

    def refuse_connections(self) -> None:
        """The node refused a connection: stop listening until it accepts one again."""
        if self.server is None or self.refusing:
            return
        try:
            self._held = _bound_socket(self.listen_port)  # bound before the listener goes: never a gap
        except OSError as exc:
            self._log(f"route {self.config.name}: cannot hold port {self.listen_port} ({exc}); still listening")
            return
        # Connections the kernel already accepted into the backlog would be reset when the
        # listener closes, after the gateway sent its request: HAProxy then waits a turn-around
        # before retrying (240 ms to 1.2 s seen at a region outage). Taken first, they end as
        # every accepted connection to a dead node does: a clean FIN, an empty response.
        pending = self._accept_pending()
        self._stop_listening()
        loop = asyncio.get_running_loop()
        for conn in pending:  # held: the loop keeps only weak references to tasks
            task = loop.create_task(self._serve_accepted(conn))
            self._accepting.add(task)
            task.add_done_callback(self._accepting.discard)
        self._reopen = loop.create_task(self._listen_when_upstream_accepts())
        self._log(f"route {self.config.name}: {self.config.upstream} refused a connection; "
                  f"refusing connections on {self.listen_port} until it accepts again")  # fmt: skip

    def close(self) -> None:
        """Stop accepting and close every open connection (buffered bytes are flushed)."""
        if self._reopen is not None:
            self._reopen.cancel()
        self._stop_listening()
        if self._held is not None:
            self._held.close()
        for pipe in list(self.pipes):
            pipe.close()

    def _accept_pending(self) -> list[socket.socket]:
        """Every connection waiting in the listener's backlog (the listener is non-blocking)."""
        pending: list[socket.socket] = []
        while self._listener is not None and len(pending) < _BACKLOG:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # BlockingIOError: the backlog is empty
                break
            conn.setblocking(False)
            pending.append(conn)
        return pending

    async def _serve_accepted(self, conn: socket.socket) -> None:
        from drillkit.netfault.pipe import ClientSide  # pipe.py imports this module

        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: ClientSide(self), conn)
        except OSError:
            conn.close()

    async def _listen(self, sock: socket.socket) -> None:
        from drillkit.netfault.pipe import ClientSide  # pipe.py imports this module

        self._listener = sock
        sock.listen(_BACKLOG)
        self.listen_port = sock.getsockname()[1]
        self.server = await asyncio.get_running_loop().create_server(lambda: ClientSide(self), sock=sock)

    def _stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()  # closes the listening socket too (asyncio's loop and uvloop alike)
            self.server = None
        self._listener = None

    async def _listen_when_upstream_accepts(self) -> None:
        while not await _accepts(self.config.upstream_host, self.config.upstream_port):
            await asyncio.sleep(PROBE_INTERVAL_S)
        held, self._held = self._held, None
        assert held is not None
        await self._listen(held)
        self._log(f"route {self.config.name}: {self.config.upstream} accepts again; listening on {self.listen_port}")

    def set_fault(self, fault: Fault) -> None:
        """Apply ``fault`` to new and open connections (wakes every waiting pipe)."""
        self.fault = fault
        capped = fault.bandwidth_kbps is not None or fault.blackhole
        # by Direction: may a chunk skip the queue? The data path reads this on every chunk.
        self.passthrough = (not capped and fault.latency_ms == 0, not capped)
        rate = fault.bandwidth_kbps * 1000 / 8 if fault.bandwidth_kbps is not None else None
        for bucket in self.buckets:
            bucket.set_rate(rate)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self, timeout: float | None = None) -> None:
        """Wait until the fault changes, or ``timeout`` seconds pass."""
        if timeout is None:
            await self._changed.wait()
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def draw_reset(self) -> bool:
        """One draw against ``reset_ratio`` (free when the ratio is 0)."""
        ratio = self.fault.reset_ratio
        return ratio > 0 and self.rng.random() < ratio

    def draw_delay(self) -> float:
        """Seconds to hold one request chunk: latency ± uniform jitter."""
        fault = self.fault
        jitter = self.rng.uniform(-fault.jitter_ms, fault.jitter_ms) if fault.jitter_ms else 0.0
        return (fault.latency_ms + jitter) / 1000

    def state(self) -> RouteState:
        """The route as the control API reports it."""
        c = self.counters
        stalled = sum(1 for p in self.pipes if p.stalled()) if self.fault.blackhole else 0
        stats = RouteStats(
            connections_total=c.connections_total, connections_active=len(self.pipes), bytes_up=c.bytes_up,
            bytes_down=c.bytes_down, resets=c.resets, stalled_connections=stalled,
        )  # fmt: skip
        return RouteState(name=self.config.name, listen_port=self.listen_port, upstream=self.config.upstream,
                          fault=self.fault, refusing=self.refusing, stats=stats)  # fmt: skip


def _bound_socket(port: int) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:``port``; SO_REUSEPORT lets two of ours share the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def _accepts(host: str, port: int) -> bool:
    """One connect to the upstream: True when it accepts (the connection is closed at once)."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True
