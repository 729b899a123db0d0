"""The proxy process: every route plus the control API on one event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from drillkit.netfault.control import ControlServer
from drillkit.netfault.faults import ProxyConfig, ProxyReady, write_ready_file
from drillkit.netfault.proxy import Route


class FaultProxy:
    """All routes and the control API. ``run()`` in a process; ``start_thread()`` in tests.

    >>> proxy = FaultProxy(config).start_thread()     # doctest: +SKIP
    >>> proxy.ready.routes["primary-0"]               # doctest: +SKIP
    40123
    >>> proxy.stop()                                  # doctest: +SKIP
    """

    def __init__(self, config: ProxyConfig, *, control_port: int = 0, ready_file: Path | None = None) -> None:
        self.config = config
        self.control_port = control_port
        self.ready_file = ready_file
        self.ready: ProxyReady | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    async def serve(self) -> None:
        """Bind everything, announce the ports, serve until ``stop()``."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        routes = {r.name: Route(r) for r in self.config.routes}
        for route in routes.values():
            await route.start()
        control = await asyncio.start_server(ControlServer(routes).handle, "127.0.0.1", self.control_port)
        port = control.sockets[0].getsockname()[1]
        self.ready = ProxyReady(pid=os.getpid(), control_port=port, routes={n: r.listen_port for n, r in routes.items()})
        if self.ready_file is not None:
            write_ready_file(self.ready_file, self.ready)
        self._started.set()
        await self._stop.wait()
        control.close()
        for route in routes.values():
            if route.server is not None:
                route.server.close()
            for pipe in list(route.pipes):
                pipe.close()

    def stop(self) -> None:
        """Stop serving (thread-safe)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def start_thread(self) -> FaultProxy:
        """Serve on a background thread; return once every port is bound."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("fault proxy did not start")
        return self
