"""Typed client of the fault proxy's control API (standard library only).

>>> proxy = NetfaultClient.from_state(Path(".drillkit/local"), "http://127.0.0.1:40100")  # doctest: +SKIP
>>> proxy.set_fault("primary-0", Fault(latency_ms=150, jitter_ms=20))     # doctest: +SKIP
RouteState(name='primary-0', listen_port=40101, upstream='127.0.0.1:8000', fault=..., stats=...)
>>> proxy.clear_all()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from drillkit.errors import ComponentError
from drillkit.netfault.faults import Fault, RouteState
from drillkit.netfault.token import TOKEN_FILE, read_token_file


class NetfaultClient:
    """Talks to one running proxy; every failure is a ``ComponentError`` naming the route.

    ``base_url`` is the proxy's control address, ``http://127.0.0.1:PORT``; ``timeout_s``
    bounds each request (connect and answer); ``token`` is the bearer token the proxy wrote to
    its ``--token-file`` (``from_state`` reads it from an environment's state folder).
    """

    def __init__(self, base_url: str, timeout_s: float = 2.0, *, token: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ComponentError(f"fault proxy URL {base_url!r} is not http://HOST:PORT (is the environment up?)")
        self.base_url, self.timeout_s = base_url.rstrip("/"), timeout_s
        self._host, self._port = parts.hostname, parts.port
        self._authorization = f"Bearer {token}"

    @classmethod
    def from_state(cls, state_dir: Path, base_url: str | None, timeout_s: float = 2.0) -> NetfaultClient:
        """The client of the proxy an environment started: its token is ``state_dir/netfault.token``."""
        if not base_url:
            raise ComponentError("no fault proxy is recorded for this environment (is the environment up?)")
        return cls(base_url, timeout_s, token=read_token_file(state_dir / TOKEN_FILE))

    def health(self) -> bool:
        """True when the proxy answers ``/healthz``; never raises."""
        try:
            return self._call("GET", "/healthz") == {"ok": True}
        except ComponentError:
            return False

    def routes(self) -> list[RouteState]:
        """Every route with its fault and stats."""
        return [RouteState.model_validate(r) for r in self._call("GET", "/routes")]

    def route(self, route: str) -> RouteState:
        """One route with its fault and stats."""
        return RouteState.model_validate(self._call("GET", _path(route), route=route))

    def set_fault(self, route: str, fault: Fault) -> RouteState:
        """Replace the route's fault (open connections included); returns the route."""
        return RouteState.model_validate(self._call("PUT", _path(route, "fault"), fault.model_dump_json(), route))

    def clear(self, route: str) -> RouteState:
        """Clear the route's fault; returns the route."""
        return RouteState.model_validate(self._call("DELETE", _path(route, "fault"), route=route))

    def add_route(self, route: str, upstream_port: int) -> RouteState:
        """A new route to ``127.0.0.1:upstream_port`` on a free port (its ``listen_port``)."""
        return RouteState.model_validate(self._call("PUT", _path(route), json.dumps({"upstream_port": upstream_port}), route))

    def remove_route(self, route: str) -> None:
        """Close a route and its connections."""
        self._call("DELETE", _path(route), route=route)

    def clear_all(self) -> list[RouteState]:
        """Clear every route's fault; returns every route."""
        return [RouteState.model_validate(r) for r in self._call("DELETE", "/faults")]

    def request(self, method: str, path: str, body: str | bytes | None = None) -> tuple[int, Any]:
        """One raw request: (status, decoded JSON). Raises ``ComponentError`` only if nothing answered."""
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        try:
            headers = {"Content-Type": "application/json", "Authorization": self._authorization}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ComponentError(f"fault proxy {self.base_url}: {method} {path} got no answer: {exc}") from exc
        finally:
            conn.close()

    def _call(self, method: str, path: str, body: str | None = None, route: str | None = None) -> Any:
        status, payload = self.request(method, path, body)
        if status != 200:
            message = payload.get("error") if isinstance(payload, dict) else payload
            about = f"route {route!r}: " if route is not None else ""
            raise ComponentError(f"fault proxy {self.base_url}: {about}{method} {path} -> {status}: {message}")
        return payload


def _path(route: str, *rest: str) -> str:
    return "/".join(["/routes", quote(route, safe=""), *rest])
