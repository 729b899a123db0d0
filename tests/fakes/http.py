"""Serve a request handler on a free loopback port for one test: the protocol seam of every fake."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets some of 30 connections opened at once (the
    # capacity burst's workers); a real server such as Triton listens with a longer queue.
    request_queue_size = 128


@contextmanager
def serve(
    handler: Callable[..., BaseHTTPRequestHandler] | type[BaseHTTPRequestHandler],
) -> Iterator[str]:
    """Run ``handler`` on 127.0.0.1:<free port> in a thread; yield the base URL; stop on exit.

    Request threads are daemons and are not waited for: a client's idle keep-alive connection
    must not hold up the end of a test.
    """
    server = _Server(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
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
