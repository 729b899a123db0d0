"""One direction of a pipe: chunks go straight through, or queue while a fault holds them.

Pass-through is one ``transport.write`` per chunk, with flow control only (a side whose
peer's write buffer is full stops reading), so the proxy adds little on loopback. Under a
fault, each direction queues its chunks in a ``Lane`` and a pump task releases them in order
when latency, blackhole and bandwidth allow. A fault change wakes the pumps, so it applies
to open connections at once. EOF is forwarded after the queued bytes (half-close works).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from drillkit.netfault.proxy import Direction

if TYPE_CHECKING:
    from drillkit.netfault.pipe import Pipe

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
