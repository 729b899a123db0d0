"""Keeping the load generator's event loop free (imported only inside Locust processes).

Every request leaves from one gevent loop, so anything that holds the loop makes the next
requests late, and anything spent per request lowers the generator's ceiling:

- ``InFlight``: a greenlet per request in flight, bounded by a counter, and reused.
  ``gevent.pool.Pool`` made a new ``Greenlet`` per request: its spawning stack (with line
  numbers), its links, and CPython 3.11's frame stack mapped and unmapped for every greenlet.
- ``BackgroundFlusher``: the request log's Parquet encoding and disk write run on a native
  thread (pyarrow releases the GIL while it encodes and writes); the loop only builds the
  Arrow table (well under a millisecond for a second of rows).
- ``freeze_heap``: a full garbage collection walks every object; with pandas, tritonclient,
  Locust and the trace loaded that is 50-90 ms with the loop stopped. Objects that exist
  before the replay starts live as long as the process, so they are moved out of the
  collector's reach (``gc.freeze``, as Locust itself does before ``--processes`` forks).

>>> inflight = InFlight(limit=100)                      # doctest: +SKIP
>>> inflight.spawn(send, dispatch); inflight.join(15)   # doctest: +SKIP
>>> flusher = BackgroundFlusher(log)                    # doctest: +SKIP
>>> ...; flusher.close()                                # doctest: +SKIP
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any, Protocol

import gevent
from gevent.event import Event
from greenlet import getcurrent, greenlet

from drillkit.request_log import Part


class InFlight:
    """Runs each call on a greenlet of its own, at most ``limit`` at once; ``spawn`` waits for a slot.

    Greenlets are reused: a worker that finishes parks itself and takes the next call. A new
    greenlet per request costs an mmap/munmap of its Python frame stack (CPython 3.11) and
    page faults, about a third of the generator's kernel time per request.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self.running = 0
        self._hub = gevent.get_hub()
        self._parked: list[greenlet] = []  # idle workers, most recently used last
        self._slot = Event()  # set while a slot is free
        self._slot.set()
        self._idle = Event()  # set while nothing runs
        self._idle.set()

    def spawn(self, func: Callable[..., Any], *args: Any) -> None:
        """Start ``func(*args)`` on a free worker at the loop's next turn; wait while all are busy."""
        while self.running >= self.limit:
            self._slot.wait()
        self.running += 1
        if self.running >= self.limit:
            self._slot.clear()
        self._idle.clear()
        if self._parked:
            self._hub.loop.run_callback(self._parked.pop().switch, func, args)
        else:
            gevent.spawn_raw(self._work, func, args)

    def join(self, timeout_s: float) -> bool:
        """Wait until every call has returned; False when some still run after ``timeout_s``."""
        return self._idle.wait(timeout=timeout_s)

    def _work(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        while True:
            try:
                func(*args)
            except Exception:  # reported as gevent reports a dead greenlet; the worker lives on
                self._hub.handle_error(func, *sys.exc_info())
            finally:  # also when the worker is killed (GreenletExit): the slot comes back
                self._finished()
            self._parked.append(getcurrent())
            func, args = self._hub.switch()  # parked until ``spawn`` hands over the next call

    def _finished(self) -> None:
        self.running -= 1
        self._slot.set()
        if self.running == 0:
            self._idle.set()


class Flushable(Protocol):
    """A log that buffers rows in memory: ``take`` the buffered part, ``flush`` to write now."""

    def take(self) -> Part | None: ...

    def flush(self) -> object: ...


class Threads(Protocol):
    """Runs a function on another thread; the calling greenlet waits, the loop does not."""

    def apply(self, func: Callable[[], Any]) -> Any: ...


class BackgroundFlusher:
    """Writes the logs (the request log, the kept answers) every ``every_s`` seconds on a native
    thread; ``close`` writes the rest.

    A crash loses at most one interval of rows, as before; the loop never waits for the disk.
    ``threads`` defaults to gevent's pool of native threads.
    """

    def __init__(self, *logs: Flushable, every_s: float = 1.0, threads: Threads | None = None) -> None:
        self.logs = logs
        self._threads = threads if threads is not None else gevent.get_hub().threadpool
        self._closing = Event()
        self._greenlet = gevent.spawn(self._run, every_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the periodic writes (waiting for one in progress), then write what is left."""
        self._closing.set()
        self._greenlet.join(timeout=timeout_s)
        for log in self.logs:
            log.flush()

    def _run(self, every_s: float) -> None:
        while not self._closing.wait(timeout=every_s):
            for log in self.logs:
                part = log.take()
                if part is not None:
                    self._threads.apply(part.write)  # this greenlet waits; the loop goes on


def freeze_heap() -> None:
    """Collect once, then exempt every object alive now from future collections."""
    gc.collect()
    gc.freeze()
