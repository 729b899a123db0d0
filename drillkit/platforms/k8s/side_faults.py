"""Faults that are objects of their own: partitions, Chaos Mesh network faults, hog pods.

Each is server-side applied with the run, fault and node labels and removed by listing
those labels, so clearing a fault deletes exactly what it created (and clearing twice is
harmless). chaostoolkit-kubernetes' ``create_network_policy`` / ``remove_network_policy``
would POST (not idempotent) and delete by name alone; see ``clusters.py`` for why its
actions are not called at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drillkit.errors import AlreadyUpError, NotUpError
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Health
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import KubeClient, collection, object_path
from drillkit.platforms.k8s.render_faults import (
    hog_pod,
    network_chaos,
    partition_policy,
)
from drillkit.platforms.k8s.status import pod_health

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform


def set_network_fault(p: KubernetesPlatform, node: str, fault: Fault) -> None:
    """Blackhole: a deny-all NetworkPolicy; latency/bandwidth: Chaos Mesh; ``Fault()``: clear them."""
    kube = p.clusters.region(p.region_of(node))
    if fault.is_clear:
        clear_network(p, kube, node)
        return
    run = p.run().run
    docs = [partition_policy(p.spec, run, node)] if fault.blackhole else network_chaos(p.spec, run, node, fault)
    for doc in docs:
        kube.apply(doc)


def clear_network(p: KubernetesPlatform, kube: KubeClient, node: str) -> list[str]:
    """Delete the node's partition policy and network chaos objects; return their names."""
    match = meta.environment_labels(p.name) | {meta.NODE: node, meta.COMPONENT: "fault"}
    kinds = ["NetworkPolicy"] + (["NetworkChaos"] if p.k8s.chaos_mesh else [])
    deleted = []
    for kind in kinds:
        for obj in kube.list(kind, p.k8s.namespace, meta.selector(match)):
            kube.delete(object_path(obj | {"kind": kind}))
            deleted.append(obj["metadata"]["name"])
    return deleted


def start_hog(p: KubernetesPlatform, handle: str, node: str, kind: str, level: float, duration_s: float) -> None:
    """A hog pod on the node's cluster node (and GPU), ending by itself after ``duration_s``."""
    kube = p.clusters.region(p.region_of(node))
    pod = kube.get(f"{collection('Pod', p.k8s.namespace)}/{meta.node_pod(p.name, node)}")
    host = (pod or {}).get("spec", {}).get("nodeName")
    if not host:
        raise NotUpError(f"node {node} has no scheduled pod to put a hog beside")
    doc = hog_pod(p.spec, p.run().run, handle=handle, node=node, host=host, kind=kind, level=level, duration_s=duration_s)
    existing = kube.get(object_path(doc))
    if existing is not None and pod_health(existing) is not Health.DEAD:
        raise AlreadyUpError(f"hog {handle} already runs")
    if existing is not None:
        kube.delete(object_path(doc), {"gracePeriodSeconds": 0})  # a finished hog's pod: its spec cannot change
    kube.apply(doc)


def stop_hog(p: KubernetesPlatform, handle: str) -> None:
    """Delete the hog's pod wherever it runs (no error when it already ended)."""
    match = meta.environment_labels(p.name) | {meta.HOG: handle, meta.COMPONENT: "hog"}
    for context in p.k8s.contexts():
        kube = p.clusters.context(context)
        for obj in kube.list("Pod", p.k8s.namespace, meta.selector(match)):
            kube.delete(object_path(obj | {"kind": "Pod"}), {"gracePeriodSeconds": 5})
