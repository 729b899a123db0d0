"""The proxy process: every route plus the control API on one event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from types import TracebackType

from drillkit.netfault.control import ControlServer, log
from drillkit.netfault.faults import ProxyConfig, ProxyReady, write_ready_file
from drillkit.netfault.proxy import Route
from drillkit.netfault.token import new_token


class FaultProxy:
    """All routes and the control API. ``await serve()`` in a process; ``start_thread()`` in tests.

    Attributes: ``config``; ``token`` (the control API's bearer token: ``token``, or a fresh
    random one); ``routes`` (name -> Route, filled by ``serve``); ``ready`` (the bound ports,
    once serving; also written to ``ready_file`` if given).

    >>> with FaultProxy(config).start_thread() as proxy:     # doctest: +SKIP
    ...     port = proxy.ready.routes["primary-0"]
    """

    def __init__(self, config: ProxyConfig, *, control_port: int = 0, ready_file: Path | None = None,
                 token: str | None = None) -> None:  # fmt: skip
        self.config = config
        self.token = token or new_token()  # never an open control API, even in a test
        self.control_port = control_port
        self.ready_file = ready_file
        self.routes: dict[str, Route] = {}
        self.ready: ProxyReady | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None

    async def serve(self) -> None:
        """Bind everything, announce the ports, serve until ``stop()``; then close all connections."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self.routes = {r.name: Route(r, log=log) for r in self.config.routes}
        control: asyncio.AbstractServer | None = None
        try:
            for route in self.routes.values():
                await route.start()
            control = await asyncio.start_server(ControlServer(self.routes, token=self.token).handle, "127.0.0.1", self.control_port)
            self._announce(control.sockets[0].getsockname()[1])
            await self._stop.wait()
        finally:
            if control is not None:
                control.close()
            for route in self.routes.values():
                route.close()
            await asyncio.sleep(0)  # let closing transports flush and call connection_lost
            log("stopped")

    def stop(self) -> None:
        """Stop serving; thread-safe, and waits for a ``start_thread()`` thread to end."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def start_thread(self) -> FaultProxy:
        """Serve on a background thread with its own loop; return once every port is bound."""
        self._thread = threading.Thread(target=self._run_in_thread, name="netfault", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("fault proxy did not start within 10 s")
        if self._failure is not None:
            raise self._failure
        return self

    def __enter__(self) -> FaultProxy:
        return self if self._thread is not None else self.start_thread()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _announce(self, control_port: int) -> None:
        self.ready = ProxyReady(
            pid=os.getpid(), control_port=control_port, routes={n: r.listen_port for n, r in self.routes.items()}
        )
        if self.ready_file is not None:
            write_ready_file(self.ready_file, self.ready)
        for route in self.routes.values():
            log(f"route {route.config.name}: 127.0.0.1:{route.listen_port} -> {route.config.upstream}")
        log(f"control API on http://127.0.0.1:{control_port}")
        self._started.set()

    def _run_in_thread(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as exc:  # handed to start_thread's caller, not lost in the thread
            self._failure = exc
        finally:
            self._started.set()
