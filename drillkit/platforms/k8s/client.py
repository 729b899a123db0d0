"""One cluster's API, through the official client's ``ApiClient`` (auth, TLS, proxy from the kubeconfig).

Objects are plain dicts (the manifests drillkit renders and the JSON the API returns), so
what is sent is exactly what was rendered. Writes are server-side apply: a PATCH of the
whole manifest as ``application/apply-patch+yaml`` with ``fieldManager=drillkit`` and
``force=true``; applying twice is the same request and changes nothing.

>>> kube = KubeClient(new_client_from_config("kubeconfig", context="kind-drill-a"), "kind-drill-a")  # doctest: +SKIP
>>> kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "drillkit"}})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes.client import ApiClient

from drillkit.errors import ComponentError
from drillkit.platforms.k8s.meta import FIELD_MANAGER

Obj = dict[str, Any]

# kind -> (apiVersion, plural, namespaced): every kind drillkit creates, lists or deletes.
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "Node": ("v1", "nodes", False),
    "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True),
    "ConfigMap": ("v1", "configmaps", True),
    "StatefulSet": ("apps/v1", "statefulsets", True),
    "Deployment": ("apps/v1", "deployments", True),
    "ReplicaSet": ("apps/v1", "replicasets", True),  # attach mode: the Deployment that owns a pod
    "Job": ("batch/v1", "jobs", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True),
    "ServiceMonitor": ("monitoring.coreos.com/v1", "servicemonitors", True),
    "NetworkChaos": ("chaos-mesh.org/v1alpha1", "networkchaos", True),
}


def collection(kind: str, namespace: str | None = None) -> str:
    """The API path of a kind's collection: ``/apis/apps/v1/namespaces/ns/statefulsets``."""
    api_version, plural, namespaced = KINDS[kind]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{namespace}/{plural}" if namespaced else f"{root}/{plural}"


def object_path(obj: Mapping[str, Any]) -> str:
    """The API path of one object, from its kind, namespace and name."""
    metadata = obj["metadata"]
    return f"{collection(obj['kind'], metadata.get('namespace'))}/{metadata['name']}"


class KubeClient:
    """Raw JSON requests to one context's API server.

    Attributes:
        api: the official client's ``ApiClient`` for this context.
        context: the kube context's name (in error messages).
        timeout_s: per-request timeout.
    """

    def __init__(self, api: ApiClient, context: str, *, timeout_s: float = 15.0) -> None:
        self.api = api
        self.context = context
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: Any = None,
                content_type: str = "application/json", missing_ok: bool = False) -> Any:  # fmt: skip
        """Send one request; the decoded JSON answer (None for a 404 when ``missing_ok``)."""
        status, data = self._send(method, path, query, body, content_type)
        if status == 404 and missing_ok:
            return None
        if not 200 <= status < 300:
            raise KubeApiError(self.context, method, path, status, data)
        return json.loads(data) if data else None

    def text(self, path: str, *, query: Mapping[str, str] | None = None) -> str:
        """A GET whose answer is text (pod logs, a service proxy)."""
        status, data = self._send("GET", path, query, None, "application/json")
        if not 200 <= status < 300:
            raise KubeApiError(self.context, "GET", path, status, data)
        return data.decode(errors="replace")

    def get(self, path: str) -> Obj | None:
        return self.request("GET", path, missing_ok=True)

    def list(self, kind: str, namespace: str | None, label_selector: str, field_selector: str | None = None) -> list[Obj]:
        """Objects of ``kind`` matching a label selector (never an unselected list)."""
        if not label_selector and not field_selector:
            raise ValueError("drillkit lists only by selector")
        query = {"labelSelector": label_selector} if label_selector else {}
        if field_selector:
            query["fieldSelector"] = field_selector
        answer = self.request("GET", collection(kind, namespace), query=query, missing_ok=True)
        return list(answer["items"]) if answer else []

    def apply(self, obj: Obj) -> Obj:
        """Server-side apply of a whole manifest (create or converge); idempotent."""
        query = {"fieldManager": FIELD_MANAGER, "force": "true"}
        return self.request("PATCH", object_path(obj), query=query, body=obj, content_type="application/apply-patch+yaml")

    def patch(self, path: str, body: Obj) -> Obj:
        """A merge patch (labels, taints, ``spec.unschedulable``)."""
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: Obj | None = None) -> bool:
        """Delete one object; False when it was already gone."""
        return self.request("DELETE", path, body=body, missing_ok=True) is not None

    def _send(self, method: str, path: str, query: Mapping[str, str] | None, body: Any, content_type: str) -> tuple[int, bytes]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.api.param_serialize(method, path, query_params=list((query or {}).items()),
                                                            header_params=headers, body=body, auth_settings=["BearerToken"])  # fmt: skip
        try:
            response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=self.timeout_s)
        except Exception as exc:  # urllib3 and TLS errors: the cluster is unreachable
            raise ComponentError(f"context {self.context}: {method} {path} failed: {exc}") from exc
        return response.status, response.read() or b""


class KubeApiError(ComponentError):
    """The API server refused a request; ``status`` is its HTTP status."""

    def __init__(self, context: str, method: str, path: str, status: int, data: bytes) -> None:
        self.status = status
        try:
            message = json.loads(data).get("message", "")
        except (ValueError, AttributeError):
            message = data[:300].decode(errors="replace")
        super().__init__(f"context {context}: {method} {path}: HTTP {status} {message}")
