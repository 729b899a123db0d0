"""A user's two-region Triton deployment that drillkit did not create, on two fake API servers.

Region ``us-east-1`` (context ``kind-drill-a``): a Deployment ``recsys-a`` whose ReplicaSet
owns three pods. Region ``eu-west-1`` (context ``kind-drill-b``): a StatefulSet ``recsys-b``
with two pods. Both in namespace ``recsys``, beside another tenant's pods (``app: other``)
on the same GPU nodes, and a Deployment of that tenant. The controllers here do what the
cluster's would: keep their replicas as pods, owned through the right references.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from drillkit.spec import EnvironmentSpec, load_environment
from tests.fakes.kube_api import FakeKube, write_kubeconfig
from tests.fakes.kube_objects import node

NS = "recsys"
CONTEXTS = {"us-east-1": "kind-drill-a", "eu-west-1": "kind-drill-b"}
TRITON = {"app": "recsys", "component": "triton"}
OTHER = {"app": "other"}


def _pod(name: str, labels: dict[str, str], host: str, owner: tuple[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}]},
            "spec": {"nodeName": host, "containers": [{"name": "triton", "image": "nvcr.io/nvidia/tritonserver:24.08-py3"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip


def deployment_pods(kube: FakeKube, deployment: dict[str, Any]) -> None:
    """The Deployment's ReplicaSet keeps ``replicas`` pods (new ones get fresh names), spread over two GPU nodes."""
    name = deployment["metadata"]["name"]
    rs = f"{name}-7c9f"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    mine = sorted(p for p, o in kube.objects.items() if "/pods/" in p and o["metadata"]["ownerReferences"][0]["name"] == rs)
    want = deployment["spec"]["replicas"]
    for path in mine[want:]:
        del kube.objects[path]
    serial = len([p for p in kube.objects if "/pods/" in p]) + kube._version
    for i in range(len(mine), want):
        pod = f"{rs}-{serial + i:05d}"
        kube.put(f"/api/v1/namespaces/{NS}/pods/{pod}", _pod(pod, labels, f"gpu-a-{i % 2}", ("ReplicaSet", rs)))
    deployment["status"] = {"replicas": want, "readyReplicas": want}


def statefulset_pods(kube: FakeKube, sts: dict[str, Any]) -> None:
    name = sts["metadata"]["name"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    want = sts["spec"]["replicas"]
    for path in [p for p in kube.objects if p.startswith(f"/api/v1/namespaces/{NS}/pods/{name}-")]:
        if int(path.rsplit("-", 1)[1]) >= want:
            del kube.objects[path]
    for i in range(want):
        path = f"/api/v1/namespaces/{NS}/pods/{name}-{i}"
        if path not in kube.objects:
            kube.put(path, _pod(f"{name}-{i}", labels, f"gpu-b-{i}", ("StatefulSet", name)))
    sts["status"] = {"replicas": want, "readyReplicas": want}


def recreate_deleted_pods(kube: FakeKube, deleted: dict[str, Any]) -> None:
    """What the owners do when one of their pods is deleted: make it again (``kube.controllers["Deleted"]``)."""
    owner = ((deleted.get("metadata") or {}).get("ownerReferences") or [{}])[0]
    if owner.get("kind") == "ReplicaSet" and owner.get("name") == "recsys-a-7c9f":
        deployment_pods(kube, kube.objects[f"/apis/apps/v1/namespaces/{NS}/deployments/recsys-a"])
    elif owner.get("kind") == "StatefulSet":
        statefulset_pods(kube, kube.objects[f"/apis/apps/v1/namespaces/{NS}/statefulsets/{owner['name']}"])


def _workload(kind: str, name: str, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}}  # fmt: skip


def seed(a: FakeKube, b: FakeKube) -> None:
    """The user's deployment, already running; another tenant beside it."""
    a.controllers["Deployment"] = deployment_pods
    b.controllers["StatefulSet"] = statefulset_pods
    for host in ("gpu-a-0", "gpu-a-1"):
        a.put(f"/api/v1/nodes/{host}", node(host) | {"status": {"allocatable": {"nvidia.com/gpu": "4"},
                                                                  "conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    for host in ("gpu-b-0", "gpu-b-1"):
        b.put(f"/api/v1/nodes/{host}", node(host) | {"status": {"allocatable": {"nvidia.com/gpu": "2"},
                                                                  "conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    a.put(f"/apis/apps/v1/namespaces/{NS}/replicasets/recsys-a-7c9f", {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": "recsys-a-7c9f", "namespace": NS, "ownerReferences": [{"kind": "Deployment", "name": "recsys-a", "controller": True}]}})  # fmt: skip
    labels = TRITON | {"app.kubernetes.io/version": "v7"}
    deployment = a.put(f"/apis/apps/v1/namespaces/{NS}/deployments/recsys-a", _workload("Deployment", "recsys-a", 3, labels))
    deployment_pods(a, deployment)
    sts = b.put(f"/apis/apps/v1/namespaces/{NS}/statefulsets/recsys-b", _workload("StatefulSet", "recsys-b", 2, labels))
    statefulset_pods(b, sts)
    a.put(f"/apis/apps/v1/namespaces/{NS}/deployments/other", _workload("Deployment", "other", 1, OTHER))
    for kube, host in ((a, "gpu-a-0"), (b, "gpu-b-0")):
        kube.put(f"/api/v1/namespaces/{NS}/pods/other-1", _pod("other-1", OTHER, host, ("ReplicaSet", "other-5d")))


def attach_document(state_dir: Path, kubeconfig: Path, **kubernetes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "deploy": False,
        "kubeconfig": str(kubeconfig),
        "clusters": [{"region": r, "context": c, "namespace": NS, "selector": dict(TRITON)} for r, c in CONTEXTS.items()],
        "gateway": {"external": {"url": "http://127.0.0.1:9"}},
        "start_timeout_s": 5,
    }
    section.update(kubernetes)
    return {"name": "attached", "platform": "kubernetes", "state_dir": str(state_dir),
            "regions": [{"name": "us-east-1", "role": "primary", "nodes": 3}, {"name": "eu-west-1", "role": "standby", "nodes": 2}],
            "prometheus": {"url": "http://127.0.0.1:9"}, "kubernetes": section}  # fmt: skip


def attach_environment(tmp_path: Path, urls: dict[str, str], **kubernetes: Any) -> tuple[EnvironmentSpec, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", urls)
    path = tmp_path / "attach.yaml"
    document = json.loads(json.dumps(attach_document(tmp_path / "state", kubeconfig, **kubernetes)))  # no shared nodes: no YAML aliases
    path.write_text(yaml.safe_dump(document))
    return load_environment(path), path
