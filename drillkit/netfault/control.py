"""The fault proxy's control API: HTTP/1.1 + JSON on 127.0.0.1, served by the proxy's own loop.

| request | answer |
|---|---|
| ``GET /healthz`` | 200 ``{"ok": true}`` |
| ``GET /routes`` | 200, every route: ``{name, listen_port, upstream, fault, refusing, stats}`` |
| ``GET /routes/{name}`` | 200, one route |
| ``PUT /routes/{name}/fault`` | body: a ``Fault``; applies at once to open connections; 200, the route |
| ``DELETE /routes/{name}/fault`` | clears one route; 200, the route |
| ``DELETE /faults`` | clears every route; 200, every route |
| ``PUT /routes/{name}`` | body ``{"upstream_port": N}``: a new route (a node scaling out added) on a free port; 200, the route |
| ``DELETE /routes/{name}`` | closes the route and its connections (a node scaled in); 200, ``{"removed": name}`` |

Every request must be addressed to ``127.0.0.1`` or ``localhost`` (the ``Host`` header, else
403) and carry ``Authorization: Bearer <token>`` (else 401), the token the proxy keeps in the
state folder (``token.py``). Both close DNS rebinding: a web page that resolves its own name to
127.0.0.1 sends its own Host name and cannot read the token.

Errors are ``{"error": "..."}``: 400 for a body that is not a valid ``Fault`` (the message names
the field and the problem) or a repeated Host / Authorization header, 404 for an unknown route
(listing the known ones) or path, 405 for a wrong method. Each answer closes its connection,
which keeps the server a page long; the control API sees a few requests per drill, not a data path.

>>> status, body = ControlServer({}, token="t" * 43).dispatch("GET", "/healthz", b"")
>>> status, body
(200, {'ok': True})
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drillkit.netfault.faults import Fault, RouteConfig
from drillkit.netfault.proxy import Route

_MAX_BODY = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large"}  # fmt: skip
_LOCAL_HOST = re.compile(r"(?:127\.0\.0\.1|localhost)(?::\d{1,5})?", re.IGNORECASE)
# headers whose repetition would let a proxy in between and the server read different values
_SINGLE = ("host", "authorization", "content-length")


def log(message: str) -> None:
    """One timestamped line on stderr, which the platform keeps as the proxy's log."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    print(f"{stamp} netfault: {message}", file=sys.stderr, flush=True)


class ControlServer:
    """Answers control requests for ``routes`` (name -> Route) from callers that send ``token``."""

    def __init__(self, routes: dict[str, Route], *, token: str) -> None:
        self.routes = routes
        self._expected = f"Bearer {token}".encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one answer, then close (the asyncio.start_server callback)."""
        try:
            try:
                request = await asyncio.wait_for(_read_request(reader), timeout=10)
                status, payload = self.refusal(request.headers) or await self._route_change(request) or \
                    self.dispatch(request.method, request.path, request.body)
            except _BadRequest as exc:
                status, payload = exc.status, {"error": str(exc)}
            writer.write(_response(status, payload))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the caller went away or never finished its request: nothing to answer
        finally:
            writer.close()

    def refusal(self, headers: Mapping[str, str]) -> tuple[int, Any] | None:
        """403 for a Host other than 127.0.0.1 / localhost, 401 without the token; None: go on."""
        if not _LOCAL_HOST.fullmatch(headers.get("host", "")):
            return 403, {"error": "the Host header is not 127.0.0.1 or localhost; the control API answers local clients only"}
        # constant time: the answer's timing must not tell how much of a guess was right
        if not hmac.compare_digest(headers.get("authorization", "").encode("latin-1"), self._expected):
            return 401, {"error": "missing or wrong bearer token; send Authorization: Bearer <the token in the "
                                  "environment's state folder, netfault.token>"}  # fmt: skip
        return None

    async def _route_change(self, request: _Request) -> tuple[int, Any] | None:
        """``PUT`` / ``DELETE /routes/{name}``: add or remove a route (None: not such a request)."""
        parts = [p for p in request.path.split("?", 1)[0].split("/") if p]
        if len(parts) != 2 or parts[0] != "routes" or request.method not in ("PUT", "DELETE"):
            return None
        name = parts[1]
        if request.method == "DELETE":
            route = self.routes.pop(name, None)
            if route is None:
                return 404, {"error": f"no route {name!r}; known routes: {', '.join(self.routes) or '(none)'}"}
            route.close()
            log(f"route {name}: removed")
            return 200, {"removed": name}
        if name in self.routes:
            return 400, {"error": f"route {name!r} exists; remove it first"}
        try:
            port = _NewRoute.model_validate_json(request.body or b"{}").upstream_port
            route = Route(RouteConfig(name=name, upstream_port=port), log=log)
        except ValidationError as exc:
            return 400, {"error": _explain(exc)}
        await route.start()
        self.routes[name] = route
        log(f"route {name}: added on port {route.state().listen_port} -> 127.0.0.1:{port}")
        return 200, route.state().model_dump()

    def dispatch(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Route one (authorized) request; returns (status, JSON-able payload)."""
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


class _NewRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upstream_port: int = Field(ge=1, le=65535)


def _explain(exc: ValidationError) -> str:
    """'invalid fault: reset_ratio: Input should be ... ; fields: latency_ms, ...'."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
    if exc.title == "_NewRoute":
        return f"invalid route: {problems} (fields: upstream_port)"
    if exc.title == "RouteConfig":
        return f"invalid route: {problems}"
    return f"invalid fault: {problems} (fields: {', '.join(Fault.model_fields)})"


def _not_allowed(method: str, path: str, allowed: str) -> tuple[int, Any]:
    return 405, {"error": f"{method} {path} is not allowed; use {allowed}"}


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]  # lowercase names
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _Request:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) != 3:
        raise _BadRequest(f"malformed request line {lines[0]!r}")
    headers = _headers(lines[1:])
    length = headers.get("content-length", "0")
    if not re.fullmatch(r"[0-9]{1,9}", length):  # not str.isdigit: it takes "²", which int() refuses
        raise _BadRequest(f"bad Content-Length {length[:20]!r}")
    if int(length) > _MAX_BODY:
        raise _BadRequest(f"body of {length} bytes is over {_MAX_BODY}", status=413)
    body = await reader.readexactly(int(length)) if int(length) else b""
    return _Request(request_line[0].upper(), request_line[1], headers, body)


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in _SINGLE and name in headers:
            raise _BadRequest(f"the {name} header is given twice")
        headers[name] = value.strip()
    return headers


def _response(status: int, payload: Any) -> bytes:
    data = json.dumps(payload).encode()
    challenge = "WWW-Authenticate: Bearer\r\n" if status == 401 else ""
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n{challenge}"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data
