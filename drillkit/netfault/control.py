"""The fault proxy's control API: HTTP/1.1 + JSON on 127.0.0.1, served by the proxy's own loop.

| request | answer |
|---|---|
| ``GET /healthz`` | 200 ``{"ok": true}`` |
| ``GET /routes`` | 200, every route: ``{name, listen_port, upstream, fault, refusing, stats}`` |
| ``GET /routes/{name}`` | 200, one route |
| ``PUT /routes/{name}/fault`` | body: a ``Fault``; applies at once to open connections; 200, the route |
| ``DELETE /routes/{name}/fault`` | clears one route; 200, the route |
| ``DELETE /faults`` | clears every route; 200, every route |

Errors are ``{"error": "..."}``: 400 for a body that is not a valid ``Fault`` (the message names
the field and the problem), 404 for an unknown route (listing the known ones) or path, 405 for a
wrong method. Each answer closes its connection, which keeps the server a page long; the
control API sees a few requests per drill, not a data path.

>>> status, body = ControlServer({}).dispatch("GET", "/healthz", b"")
>>> status, body
(200, {'ok': True})
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from drillkit.netfault.faults import Fault
from drillkit.netfault.proxy import Route

_MAX_BODY = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}


def log(message: str) -> None:
    """One timestamped line on stderr, which the platform keeps as the proxy's log."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    print(f"{stamp} netfault: {message}", file=sys.stderr, flush=True)


class ControlServer:
    """Answers control requests for ``routes`` (name -> Route)."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self.routes = routes

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one answer, then close (the asyncio.start_server callback)."""
        try:
            try:
                method, path, body = await asyncio.wait_for(_read_request(reader), timeout=10)
                status, payload = self.dispatch(method, path, body)
            except _BadRequest as exc:
                status, payload = exc.status, {"error": str(exc)}
            writer.write(_response(status, payload))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the caller went away or never finished its request: nothing to answer
        finally:
            writer.close()

    def dispatch(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Route one request; returns (status, JSON-able payload)."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if parts == ["healthz"]:
            return (200, {"ok": True}) if method == "GET" else _not_allowed(method, path, "GET")
        if parts == ["routes"]:
            return (200, self._all()) if method == "GET" else _not_allowed(method, path, "GET")
        if parts == ["faults"]:
            return self._clear_all() if method == "DELETE" else _not_allowed(method, path, "DELETE")
        if len(parts) in (2, 3) and parts[0] == "routes" and parts[2:] in ([], ["fault"]):
            route = self.routes.get(parts[1])
            if route is None:
                return 404, {"error": f"no route {parts[1]!r}; known routes: {', '.join(self.routes) or '(none)'}"}
            return self._fault(method, path, route, body) if parts[2:] else self._one(method, path, route)
        return 404, {"error": f"no such endpoint {path!r}; try GET /routes"}

    def _all(self) -> list[dict[str, Any]]:
        return [r.state().model_dump() for r in self.routes.values()]

    def _one(self, method: str, path: str, route: Route) -> tuple[int, Any]:
        return (200, route.state().model_dump()) if method == "GET" else _not_allowed(method, path, "GET")

    def _clear_all(self) -> tuple[int, Any]:
        for route in self.routes.values():
            _apply(route, Fault())
        return 200, self._all()

    def _fault(self, method: str, path: str, route: Route, body: bytes) -> tuple[int, Any]:
        if method == "DELETE":
            _apply(route, Fault())
        elif method == "PUT":
            try:
                _apply(route, Fault.model_validate_json(body or b"{}"))
            except ValidationError as exc:
                return 400, {"error": _explain(exc)}
        else:
            return _not_allowed(method, path, "PUT, DELETE")
        return 200, route.state().model_dump()


def _apply(route: Route, fault: Fault) -> None:
    if fault != route.fault:
        log(f"route {route.config.name}: fault {route.fault.model_dump_json()} -> {fault.model_dump_json()}")
    route.set_fault(fault)


def _explain(exc: ValidationError) -> str:
    """'invalid fault: reset_ratio: Input should be ... ; fields: latency_ms, ...'."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
    return f"invalid fault: {problems} (fields: {', '.join(Fault.model_fields)})"


def _not_allowed(method: str, path: str, allowed: str) -> tuple[int, Any]:
    return 405, {"error": f"{method} {path} is not allowed; use {allowed}"}


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) != 3:
        raise _BadRequest(f"malformed request line {lines[0]!r}")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                raise _BadRequest(f"bad Content-Length {value.strip()!r}")
            length = int(value)
    if length > _MAX_BODY:
        raise _BadRequest(f"body of {length} bytes is over {_MAX_BODY}", status=413)
    body = await reader.readexactly(length) if length else b""
    return request_line[0].upper(), request_line[1], body


def _response(status: int, payload: Any) -> bytes:
    data = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data
