"""What a cluster's controllers and kubelets would do, for the fake API server (``kube_api``).

A test installs a controller per kind (``kube.controllers["StatefulSet"] = ...``); after each
apply of that kind it creates the pods and status a real cluster would reach.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.kube_api import Controller, FakeKube


def statefulset_controller(host: Callable[[str, int], str] = lambda sts, i: f"node-{i}") -> Controller:
    """After an apply: every replica exists as a Ready pod on ``host(sts, ordinal)``; status says ready.

    A rolling update's partition is honoured as the controller does: a pod below it that
    exists keeps its template (its labels); the others are (re)created from the new one.
    """

    def control(kube: FakeKube, sts: dict[str, Any]) -> None:
        name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
        replicas = sts["spec"]["replicas"]
        partition = ((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
        for i in range(replicas):
            path = f"/api/v1/namespaces/{ns}/pods/{name}-{i}"
            if i < partition and path in kube.objects:
                continue
            labels = {**sts["spec"]["template"]["metadata"]["labels"], "statefulset.kubernetes.io/pod-name": f"{name}-{i}"}
            kube.put(path, ready_pod(f"{name}-{i}", ns, labels, host(name, i)))
        for path in [p for p in kube.objects if p.startswith(f"/api/v1/namespaces/{ns}/pods/{name}-")]:
            if int(path.rsplit("-", 1)[1]) >= replicas:  # scaled down: the highest ordinals go
                del kube.objects[path]
        sts["status"] = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}

    return control


def job_controller(log: Callable[[str], str], *, failed: frozenset[str] = frozenset()) -> Controller:
    """After an apply: the Job ran to the end (``failed`` Job names failed); each pod's log is ``log(pod)``."""

    def control(kube: FakeKube, job: dict[str, Any]) -> None:
        name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
        count = job["spec"]["completions"]
        for i in range(count):
            pod = f"{name}-{i}"
            kube.put(f"/api/v1/namespaces/{ns}/pods/{pod}", {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": pod, "namespace": ns, "labels": job["spec"]["template"]["metadata"]["labels"]},
                "spec": job["spec"]["template"]["spec"], "status": {"phase": "Succeeded"}})  # fmt: skip
            kube.texts[f"/api/v1/namespaces/{ns}/pods/{pod}/log"] = log(pod)
        job["status"] = {"failed": count} if name in failed else {"succeeded": count}

    return control


def deployment_controller(kube: FakeKube, deployment: dict[str, Any]) -> None:
    replicas = deployment["spec"].get("replicas", 1)
    deployment["status"] = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}


def ready_pod(name: str, namespace: str, labels: dict[str, str], node: str, *, ready: bool = True) -> dict[str, Any]:
    """A running pod as the API shows it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name.rsplit("-", 1)[0],
                                          "uid": "uid-owner", "controller": True}]},
        "spec": {"nodeName": node, "containers": [{"name": "triton", "image": "drillkit"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def node(name: str, labels: dict[str, str] | None = None, *, unschedulable: bool = False) -> dict[str, Any]:
    """A cluster node as the API shows it."""
    spec: dict[str, Any] = {"unschedulable": True} if unschedulable else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip
