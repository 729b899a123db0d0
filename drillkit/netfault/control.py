"""The fault proxy's control API (HTTP/1.1 + JSON on 127.0.0.1) and its typed client.

| request | effect |
|---|---|
| ``GET /healthz`` | ``{"ok": true}`` |
| ``GET /routes`` | every route with its fault and stats |
| ``GET /routes/{name}`` | one route |
| ``PUT /routes/{name}/fault`` | body: a ``Fault``; applies at once to open connections |
| ``DELETE /routes/{name}/fault`` | clear one route |
| ``DELETE /faults`` | clear every route |

>>> NetfaultClient("http://127.0.0.1:9999").set_fault("primary-0", Fault(blackhole=True))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import http.client
import json
import sys
import time
from urllib.parse import urlsplit

from pydantic import ValidationError

from drillkit.errors import ComponentError
from drillkit.netfault.faults import Fault, RouteState
from drillkit.netfault.proxy import Route


class ControlServer:
    """Serves the control API for ``routes`` on the proxy's own event loop."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, body = await _read_request(reader)
            status, payload = self.dispatch(method, path, body)
        except (ValueError, asyncio.IncompleteReadError) as exc:
            status, payload = 400, {"error": f"malformed request: {exc}"}
        data = json.dumps(payload).encode()
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        writer.write(head.encode() + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()

    def dispatch(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if method == "GET" and parts == ["healthz"]:
            return 200, {"ok": True}
        if method == "GET" and parts == ["routes"]:
            return 200, [r.state().model_dump() for r in self.routes.values()]
        if method == "DELETE" and parts == ["faults"]:
            for route in self.routes.values():
                self._apply(route, Fault())
            return 200, [r.state().model_dump() for r in self.routes.values()]
        if len(parts) >= 2 and parts[0] == "routes":
            route = self.routes.get(parts[1])
            if route is None:
                return 404, {"error": f"no route {parts[1]!r}; routes: {', '.join(self.routes)}"}
            return self._route(method, parts[2:], route, body)
        return 404, {"error": f"no such endpoint: {method} {path}"}

    def _route(self, method: str, rest: list[str], route: Route, body: bytes) -> tuple[int, object]:
        if method == "GET" and not rest:
            return 200, route.state().model_dump()
        if rest == ["fault"] and method == "DELETE":
            self._apply(route, Fault())
            return 200, route.state().model_dump()
        if rest == ["fault"] and method == "PUT":
            try:
                fault = Fault.model_validate_json(body or b"{}")
            except ValidationError as exc:
                fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
                return 400, {"error": f"invalid fault ({fields}); fields: {', '.join(Fault.model_fields)}"}
            self._apply(route, fault)
            return 200, route.state().model_dump()
        return 405, {"error": f"{method} not allowed here"}

    @staticmethod
    def _apply(route: Route, fault: Fault) -> None:
        route.set_fault(fault)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        print(f"{stamp} route {route.config.name}: fault {fault.model_dump_json()}", file=sys.stderr, flush=True)


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return method, path, body


class NetfaultClient:
    """Typed client of the control API (standard library only)."""

    def __init__(self, base_url: str, *, timeout_s: float = 2.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout_s = parts.hostname or "127.0.0.1", parts.port or 80, timeout_s

    def health(self) -> bool:
        try:
            return self._call("GET", "/healthz") == {"ok": True}
        except ComponentError:
            return False

    def routes(self) -> list[RouteState]:
        return [RouteState.model_validate(r) for r in self._call("GET", "/routes")]  # type: ignore[union-attr]

    def set_fault(self, route: str, fault: Fault) -> RouteState:
        return RouteState.model_validate(self._call("PUT", f"/routes/{route}/fault", fault.model_dump_json()))

    def clear(self, route: str) -> RouteState:
        return RouteState.model_validate(self._call("DELETE", f"/routes/{route}/fault"))

    def clear_all(self) -> None:
        self._call("DELETE", "/faults")

    def _call(self, method: str, path: str, body: str | None = None) -> object:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = json.loads(response.read() or b"null")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ComponentError(f"fault proxy {self.host}:{self.port}: {method} {path} failed: {exc}") from exc
        finally:
            conn.close()
        if response.status != 200:
            raise ComponentError(f"fault proxy refused {method} {path}: {payload.get('error') if isinstance(payload, dict) else payload}")
        return payload
