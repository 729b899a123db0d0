"""A fake Kubernetes API server at the HTTP seam: a real server on 127.0.0.1:0.

It serves the endpoints drillkit (and the chaostoolkit-kubernetes actions it calls) use:
GET / PATCH / DELETE / POST on namespaced and cluster-scoped objects and collections, label
and field selectors, server-side apply and merge patches, the eviction subresource, pod logs
and the service proxy. Every request is recorded (method, path, query, content type, JSON
body), so tests assert the exact calls and bodies. A kubeconfig written by ``kubeconfig``
points contexts at fakes; nothing is patched.

>>> with fake_kube() as api:                                          # doctest: +SKIP
...     write_kubeconfig(path, {"kind-drill-a": api.url})
...     ... drillkit calls ...
...     api.calls_of("PATCH")
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from tests.fakes.http import serve

_PATH = re.compile(r"^(?P<root>/api/v1|/apis/[^/]+/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
                   r"(?:/(?P<name>[^/]+)(?:/(?P<sub>.+))?)?$")  # fmt: skip
_KINDS = {"namespaces": "Namespace", "nodes": "Node", "pods": "Pod", "services": "Service", "configmaps": "ConfigMap",
          "statefulsets": "StatefulSet", "deployments": "Deployment", "replicasets": "ReplicaSet", "jobs": "Job",
          "poddisruptionbudgets": "PodDisruptionBudget", "networkpolicies": "NetworkPolicy",
          "servicemonitors": "ServiceMonitor", "networkchaos": "NetworkChaos"}  # fmt: skip
APPLY = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Call:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    authorization: str | None = None  # the credentials the kubeconfig gave the client


Controller = Callable[["FakeKube", dict[str, Any]], None]


@dataclass
class FakeKube:
    """The fake's state: objects by path, recorded calls, canned texts and refusals."""

    url: str = ""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # GET path -> body (pod logs, service proxy)
    refuse: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (method, path) -> status, message
    missing_kinds: set[str] = field(default_factory=set)  # plurals whose CRD is not installed
    controllers: dict[str, Controller] = field(default_factory=dict)  # kind -> called after each apply
    lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 0

    def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object (as a controller or a test seeding the cluster would)."""
        self._version += 1
        stored = copy.deepcopy(obj)
        metadata = stored.setdefault("metadata", {})
        metadata.setdefault("uid", f"uid-{self._version}")
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        metadata["resourceVersion"] = str(self._version)
        self.objects[path] = stored
        return stored

    def calls_of(self, *methods: str) -> list[Call]:
        return [c for c in self.calls if c.method in methods]

    def writes(self) -> list[Call]:
        """Every request that could change something (all but GET)."""
        return [c for c in self.calls if c.method != "GET"]

    def clear(self) -> None:
        self.calls.clear()


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): maps merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(base.get(key), value)
    return merged


def _matches(obj: dict[str, Any], query: dict[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, query.get("labelSelector", "").split(",")):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    for term in filter(None, query.get("fieldSelector", "").split(",")):
        key, value = term.split("=", 1)
        actual = {"metadata.name": obj["metadata"].get("name"), "spec.nodeName": obj.get("spec", {}).get("nodeName")}[key]
        if actual != value:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    kube: FakeKube

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), dict(parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        kube = self.kube
        with kube.lock:
            kube.calls.append(Call(method, path, query, self.headers.get("Content-Type") if raw else None, body,
                                   self.headers.get("Authorization")))  # fmt: skip
            if (method, path) in kube.refuse:
                status, message = kube.refuse[(method, path)]
                return self._status(status, message)
            status, answer = _route(kube, method, path, query, body)
        if isinstance(answer, str):
            return self._send(status, answer.encode(), "text/plain")
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _status(self, code: int, message: str) -> None:
        self._send(code, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}).encode(),
                   "application/json")  # fmt: skip

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _failure(code: int, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


def _route(kube: FakeKube, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    match = _PATH.match(path)
    if match is None or match["plural"] not in _KINDS or match["plural"] in kube.missing_kinds:
        return _failure(404, f"the server could not find the requested resource ({path})")
    if match["sub"]:
        return _subresource(kube, method, path, match["sub"], body)
    if match["name"] is None:
        return _collection(kube, method, path, match, query, body)
    return _object(kube, method, path, match["plural"], body, query)


def _collection(kube: FakeKube, method: str, path: str, match: re.Match[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
    if method == "GET":
        prefix = path + "/"
        items = [copy.deepcopy(o) for p, o in sorted(kube.objects.items()) if p.startswith(prefix) and "/" not in p[len(prefix):]]
        items = [o for o in items if _matches(o, query)]
        return 200, {"apiVersion": "v1", "kind": f"{_KINDS[match['plural']]}List", "metadata": {"resourceVersion": str(kube._version)}, "items": items}
    if method == "POST":
        target = f"{path}/{body['metadata']['name']}"
        if target in kube.objects:
            return _failure(409, "already exists")
        return 201, kube.put(target, body)
    return _failure(405, "method not allowed")


def _object(kube: FakeKube, method: str, path: str, plural: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
    existing = kube.objects.get(path)
    if method == "GET":
        return (200, copy.deepcopy(existing)) if existing else _failure(404, f"{plural} not found")
    if method == "DELETE":
        if existing is None:
            return _failure(404, f"{plural} not found")
        del kube.objects[path]
        gone = kube.controllers.get("Deleted")  # a test's owner controllers bringing a deleted object back
        if gone is not None:
            gone(kube, existing)
        return 200, existing
    if method != "PATCH":
        return _failure(405, "method not allowed")
    apply = query.get("fieldManager") is not None and body is not None and "apiVersion" in body
    if existing is None and not apply:
        return _failure(404, f"{plural} not found")
    stored = kube.put(path, _merge(existing or {}, body))
    controller = kube.controllers.get(stored.get("kind", ""))
    if controller is not None:
        controller(kube, stored)
    return (201 if existing is None else 200), copy.deepcopy(kube.objects[path])


def _subresource(kube: FakeKube, method: str, path: str, sub: str, body: Any) -> tuple[int, Any]:
    owner = path[: -len(sub) - 1]
    if sub == "eviction" and method == "POST":
        evicted = kube.objects.pop(owner, None)
        if evicted is None:
            return _failure(404, "pod not found")
        gone = kube.controllers.get("Deleted")
        if gone is not None:
            gone(kube, evicted)
        return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
    if sub == "scale" and method == "PATCH":
        return _scale(kube, owner, body)
    if method == "GET" and path in kube.texts:
        return 200, kube.texts[path]
    return _failure(404, f"no {sub} here")


def _scale(kube: FakeKube, owner: str, body: Any) -> tuple[int, Any]:
    workload = kube.objects.get(owner)
    if workload is None:
        return _failure(404, "not found")
    workload["spec"]["replicas"] = body["spec"]["replicas"]
    controller = kube.controllers.get(workload.get("kind", ""))
    if controller is not None:
        controller(kube, workload)
    return 200, {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": workload["spec"]["replicas"]}}


@contextmanager
def fake_kube() -> Iterator[FakeKube]:
    """Serve a FakeKube on a free port; yield it (``.url`` is its base URL)."""
    kube = FakeKube()
    handler = type("Handler", (_Handler,), {"kube": kube})
    with serve(handler) as url:
        kube.url = url
        yield kube


def write_kubeconfig(path: Path, contexts: dict[str, str], clusters: dict[str, str] | None = None) -> Path:
    """A kubeconfig whose contexts point at the given URLs (cluster names default to the context's)."""
    clusters = clusters or {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": next(iter(contexts)),
        "clusters": [{"name": clusters.get(c, c), "cluster": {"server": url}} for c, url in contexts.items()],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [{"name": c, "context": {"cluster": clusters.get(c, c), "user": "tester"}} for c in contexts],
    }
    path.write_text(yaml.safe_dump(config))
    return path
