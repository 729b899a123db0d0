"""Node faults on Kubernetes: crash (delete the pod), hang (drain its node), GPU lost (taint).

A change to a cluster node is recorded *on the node, in the same patch that makes it*: a
label ``<env>.drillkit.io/<fault>-<drillkit node>`` whose value says whether drillkit
cordoned the node (``cordoned``) or found it cordoned already (``was-cordoned``). The undo
finds the node by that label (the pod may have moved since), removes the label and
uncordons only what drillkit cordoned, once no other drillkit mark remains. So the undo is
right even after the runner died, from any machine.

chaostoolkit-kubernetes equivalents (not called, see ``clusters.py``): ``kill`` is
``chaosk8s.pod.actions.terminate_pods(grace_period=0)``; ``stop_region`` is
``chaosk8s.statefulset.actions.scale_statefulset(replicas=0)`` plus that; ``drain`` is ``cordon_node`` plus
evictions like ``drain_nodes`` but only of drillkit's pods and without its 10 s polling
(``drain_nodes`` evicts every tenant's pods); ``undrain`` is ``uncordon_node``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drillkit.errors import ComponentError, NotUpError, StartupError
from drillkit.platforms.base import Health
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import KubeApiError, KubeClient, collection
from drillkit.platforms.k8s.status import pod_health

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform

GPU_TAINT = "drillkit.io/gpu-xid"
XIDS = {79: "GPU fallen off the bus", 48: "double-bit ECC error"}
_CORDONED, _WAS_CORDONED = "cordoned", "was-cordoned"


def mark_key(env: str, fault: str, node: str) -> str:
    """The node label that records a fault: ``k8s.drillkit.io/drain-primary-0``."""
    return f"{env}.drillkit.io/{fault}-{node}"


def marked_key(env: str) -> str:
    """The node label an environment's marks come with: what finds every node it marked."""
    return f"{env}.drillkit.io/marked"


def env_marks(env: str, node: dict[str, Any]) -> list[str]:
    """The keys of one environment's fault marks on a node."""
    return [k for k in _marks(node) if k.startswith(f"{env}.drillkit.io/")]


def kill(p: KubernetesPlatform, node: str) -> None:
    """Delete the node's pod at once (grace 0), exactly the pod seen (uid precondition)."""
    kube, pod = _pod(p, node)
    uid = pod["metadata"]["uid"]
    kube.delete(_pod_path(p, pod), {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})


def drain(p: KubernetesPlatform, node: str) -> None:
    """Cordon the node's cluster node and evict drillkit's Triton pods on it (PDBs apply)."""
    kube, host = _host(p, node)
    if host is None:
        return  # its pod runs nowhere (evicted with a neighbour on the same host): nothing left to take
    mark_host(p, kube, host, mark_key(p.name, "drain", node))
    blocked = [name for name in _on_host(p, kube, host) if not evict(kube, p.k8s.namespace, name)]
    if blocked:
        raise ComponentError(f"{host} is cordoned, but a PodDisruptionBudget refused to evict {', '.join(blocked)} "
                             "(a drain would wait); the undo uncordons it")  # fmt: skip


def undrain(p: KubernetesPlatform, node: str) -> None:
    """Undo ``drain``: remove its mark and uncordon what drillkit cordoned."""
    unmark_hosts(p, p.clusters.region(p.region_of(node)), mark_key(p.name, "drain", node))


def gpu_fault(p: KubernetesPlatform, node: str, xid: int) -> None:
    """What the device plugin and node health checks make of a fatal Xid: taint, cordon, pods gone."""
    if xid not in XIDS:
        raise ValueError(f"Xid {xid} is not simulated here; use 79 (device lost) or 48 (ECC error)")
    kube, host = _host(p, node)
    if host is None:
        return  # its pod runs nowhere (deleted with a neighbour on the same GPU node): nothing left to take
    taint = {"key": GPU_TAINT, "value": str(xid), "effect": "NoSchedule"}
    mark_host(p, kube, host, mark_key(p.name, "gpu", node), taint)
    for name in _on_host(p, kube, host):
        # A lost device does not wait for a PodDisruptionBudget: delete, not evict.
        kube.delete(f"{collection('Pod', p.k8s.namespace)}/{name}", {"gracePeriodSeconds": 0})


def stop_region(p: KubernetesPlatform, region: str) -> None:
    """A region outage: scale its StatefulSet to zero and delete its pods at once (no drain).

    Nothing comes back until ``restore`` (``restart_nodes``) scales it up again.
    """
    kube = p.clusters.region(region)
    _scale(p, kube, region, 0)
    for node in p.node_names(region):
        kube.delete(f"{collection('Pod', p.k8s.namespace)}/{meta.node_pod(p.name, node)}", {"gracePeriodSeconds": 0})


def restore(p: KubernetesPlatform, nodes: list[str]) -> None:
    """``restart_nodes``: give back what faults took (replicas, GPU taints), then wait until every node is ready.

    The StatefulSet controller restarts crashed pods by itself; a pod that is ready again
    is left alone (deleting it would be a second outage during the rollback).
    """
    for region in dict.fromkeys(p.region_of(n) for n in nodes):
        kube = p.clusters.region(region)
        sts = kube.get(f"{collection('StatefulSet', p.k8s.namespace)}/{meta.statefulset_name(p.name, region)}") or {}
        wanted = len(p.node_names(region))  # the spec's nodes, or what scaling set
        if (sts.get("spec") or {}).get("replicas", wanted) < wanted:
            _scale(p, kube, region, wanted)
    for node in nodes:
        unmark_hosts(p, p.clusters.region(p.region_of(node)), mark_key(p.name, "gpu", node), GPU_TAINT)
    deadline = p.clock() + p.k8s.start_timeout_s
    waiting = list(nodes)
    while waiting:
        waiting = [n for n in waiting if _health(p, n) is not Health.READY]
        if waiting and p.clock() > deadline:
            raise StartupError(f"nodes {', '.join(waiting)} not ready after {p.k8s.start_timeout_s:.0f} s")
        if waiting:
            p.sleep(p.poll_s)


def _scale(p: KubernetesPlatform, kube: KubeClient, region: str, replicas: int) -> None:
    # The scale subresource: only the replica count changes (`up` re-applies it anyway).
    path = f"{collection('StatefulSet', p.k8s.namespace)}/{meta.statefulset_name(p.name, region)}/scale"
    kube.patch(path, {"spec": {"replicas": replicas}})


def _health(p: KubernetesPlatform, node: str) -> Health:
    kube = p.clusters.region(p.region_of(node))
    return pod_health(kube.get(f"{collection('Pod', p.k8s.namespace)}/{meta.node_pod(p.name, node)}"))


def _find(p: KubernetesPlatform, node: str) -> tuple[KubeClient, dict[str, Any] | None]:
    """The node's pod, found by its StatefulSet labels (never an unlabelled pod), or None."""
    kube = p.clusters.region(p.region_of(node))
    found = kube.list("Pod", p.k8s.namespace, meta.selector(meta.node_labels(p.name, p.region_of(node))),
                      field_selector=f"metadata.name={meta.node_pod(p.name, node)}")  # fmt: skip
    return kube, found[0] if found else None


def _pod(p: KubernetesPlatform, node: str) -> tuple[KubeClient, dict[str, Any]]:
    """The node's scheduled pod; NotUpError when there is none."""
    kube, pod = _find(p, node)
    if pod is None or not (pod.get("spec") or {}).get("nodeName"):
        raise NotUpError(f"node {node} has no scheduled pod ({meta.node_pod(p.name, node)} in {kube.context}): is it up?")
    return kube, pod


def _host(p: KubernetesPlatform, node: str) -> tuple[KubeClient, str | None]:
    """The cluster node the node's pod runs on (None while it is pending or being replaced)."""
    kube, pod = _find(p, node)
    return kube, ((pod or {}).get("spec") or {}).get("nodeName")


def _pod_path(p: KubernetesPlatform, pod: dict[str, Any]) -> str:
    return f"{collection('Pod', p.k8s.namespace)}/{pod['metadata']['name']}"


def _on_host(p: KubernetesPlatform, kube: KubeClient, host: str) -> list[str]:
    selector = meta.selector({meta.NAME: "drillkit-triton", meta.ENVIRONMENT: p.name})
    return [o["metadata"]["name"] for o in kube.list("Pod", p.k8s.namespace, selector, field_selector=f"spec.nodeName={host}")]


def evict(kube: KubeClient, namespace: str, name: str) -> bool:
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
    try:
        kube.request("POST", f"{collection('Pod', namespace)}/{name}/eviction", body=eviction)
    except KubeApiError as exc:
        if exc.status == 429:  # a PodDisruptionBudget says not now
            return False
        if exc.status != 404:  # gone already is what we wanted
            raise
    return True


def mark_host(p: KubernetesPlatform, kube: KubeClient, host: str, key: str, taint: dict[str, str] | None = None) -> None:
    """Label, cordon (and taint) ``host`` in one patch."""

    def change(node: dict[str, Any]) -> dict[str, Any]:
        cordoned = bool(node["spec"].get("unschedulable"))
        value = next(iter(_marks(node).values()), _WAS_CORDONED if cordoned else _CORDONED)  # the first mark knows
        labels = {key: value, marked_key(p.name): "true"}
        body: dict[str, Any] = {"metadata": {"labels": labels}, "spec": {"unschedulable": True}}
        if taint is not None:
            taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != taint["key"]]
            body["spec"]["taints"] = [*taints, taint]
        return body

    _update_node(kube, host, change)


def unmark_hosts(p: KubernetesPlatform, kube: KubeClient, key: str, taint_key: str | None = None) -> None:
    """Remove a mark; uncordon (and untaint) once no drillkit mark that needs it remains."""

    def change(node: dict[str, Any]) -> dict[str, Any]:
        marks = _marks(node)
        remaining = {k: v for k, v in marks.items() if k != key}
        labels: dict[str, str | None] = {key: None}
        if not [k for k in remaining if k.startswith(f"{p.name}.drillkit.io/")]:
            labels[marked_key(p.name)] = None  # this environment's last mark on the node is gone
        body: dict[str, Any] = {"metadata": {"labels": labels}}
        spec: dict[str, Any] = {}
        if marks.get(key) == _CORDONED and not remaining:
            spec["unschedulable"] = False
        if taint_key is not None and not any(k.rsplit("/", 1)[1].startswith("gpu-") for k in remaining):
            spec["taints"] = [t for t in node["spec"].get("taints") or [] if t.get("key") != taint_key]
        return body | ({"spec": spec} if spec else {})

    for node in kube.list("Node", None, key):
        _update_node(kube, node["metadata"]["name"], change)


def _update_node(kube: KubeClient, host: str, change: Any, attempts: int = 5) -> None:
    """Read, change and patch a node, guarded by its resourceVersion (taints are a list: a
    merge patch replaces it whole, so a concurrent writer must not be overwritten)."""
    for _ in range(attempts):
        node = _node(kube, host)
        body = change(node)
        body["metadata"]["resourceVersion"] = node["metadata"]["resourceVersion"]
        try:
            kube.patch(collection("Node") + f"/{host}", body)
            return
        except KubeApiError as exc:
            if exc.status != 409:
                raise
    raise ComponentError(f"cluster node {host} kept changing under drillkit ({attempts} conflicts); try again")


def _marks(node: dict[str, Any]) -> dict[str, str]:
    """drillkit's fault marks on a node (of any environment: all of them hold the cordon)."""
    labels = node["metadata"].get("labels") or {}
    return {k: v for k, v in labels.items() if ".drillkit.io/" in k and v in (_CORDONED, _WAS_CORDONED)}


def _node(kube: KubeClient, host: str) -> dict[str, Any]:
    node = kube.get(collection("Node") + f"/{host}")
    if node is None:
        raise NotUpError(f"cluster node {host} is gone ({kube.context})")
    return node
