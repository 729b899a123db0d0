"""A fake Prometheus at the HTTP API seam: a real server on 127.0.0.1:0.

It answers ``/api/v1/query`` and ``/api/v1/query_range`` from a table of results by query
(and ``/api/v1/alerts`` from a list),
records every request (path, parameters, headers) so tests can assert exactly what was
sent, can demand a credential, and can fail the next N requests with a status code.

>>> with serve_prometheus() as prom:                            # doctest: +SKIP
...     prom.results["up"] = [{"metric": {}, "values": [[1, "1"]]}]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import serve

BAD_QUERY = "syntax-error("  # any query containing this answers 400 bad_data, as Prometheus does


@dataclass
class FakeState:
    """What the fake answers and what it saw."""

    url: str = ""
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # query -> API result list
    seen: list[dict[str, Any]] = field(default_factory=list)
    require_auth: str | None = None  # the exact Authorization header demanded
    fail_next: int = 0
    fail_status: int = 503
    alerts: list[dict[str, Any]] = field(default_factory=list)  # what /api/v1/alerts answers


def _handler(state: FakeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state.seen.append({"path": parts.path, "params": params, "headers": dict(self.headers)})
            if state.fail_next > 0:
                state.fail_next -= 1
                return self._send(state.fail_status, {"status": "error", "error": "overloaded"})
            if state.require_auth is not None and self.headers.get("Authorization") != state.require_auth:
                return self._send(401, {"status": "error", "error": "unauthorized"})
            if parts.path == "/api/v1/alerts":
                return self._send(200, {"status": "success", "data": {"alerts": state.alerts}})
            query = params.get("query", "")
            if BAD_QUERY in query:
                return self._send(400, {"status": "error", "errorType": "bad_data", "error": "1:14: parse error: unclosed left parenthesis"})
            kind = "vector" if parts.path.endswith("/query") else "matrix"
            self._send(200, {"status": "success", "data": {"resultType": kind, "result": state.results.get(query, [])}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve_prometheus() -> Iterator[FakeState]:
    """A running fake; its ``url`` is set; stopped on exit."""
    state = FakeState()
    with serve(_handler(state)) as url:
        state.url = url
        yield state


def matrix(points: list[tuple[float, float]], **labels: str) -> dict[str, Any]:
    """One range-query series in the API's shape (values as strings, as Prometheus sends them)."""
    return {"metric": labels, "values": [[t, str(v)] for t, v in points]}


def vector(value: float, at: float = 1.0, **labels: str) -> dict[str, Any]:
    """One instant-query sample in the API's shape."""
    return {"metric": labels, "value": [at, str(value)]}
