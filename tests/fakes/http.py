"""Serve a request handler on a free loopback port for one test: the protocol seam of every fake."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve(
    handler: Callable[..., BaseHTTPRequestHandler] | type[BaseHTTPRequestHandler],
) -> Iterator[str]:
    """Run ``handler`` on 127.0.0.1:<free port> in a thread; yield the base URL; stop on exit.

    Request threads are daemons and are not waited for: a client's idle keep-alive connection
    must not hold up the end of a test.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    server.daemon_threads, server.block_on_close = True, False
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


__all__ = ["serve"]
