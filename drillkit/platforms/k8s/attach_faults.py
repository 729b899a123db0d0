"""Attach mode's faults, on the user's own objects, each recorded on the object it changes.

| primitive | on the user's deployment | undone by |
|---|---|---|
| ``kill_node`` | delete the node's pod (grace 0, uid precondition); its controller brings one back | ``restart_nodes``: wait until ready |
| ``stop_region`` | scale the owning controller to 0 and delete the selected pods; the replicas it had go into a label on it, in the same patch | ``restart_nodes``: scale back to the label, remove it |
| ``pause_node`` | cordon the pod's cluster node (a label on the node records it) and evict the selected pods there | ``resume_node``: uncordon |
| ``inject_gpu_fault`` | taint and cordon that node, delete the selected pods there | ``restart_nodes``: untaint, uncordon |
| ``set_network_fault`` | blackhole: label the pod, and a deny-all NetworkPolicy (drillkit's, labelled) selecting that label | clear: delete the policy, remove the label |

Nothing else is written: no pod, controller or node that is not a fault's target, and every
object drillkit creates carries its labels. The labels are read back by
the undo, so ``drillkit recover`` is right from any machine.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from drillkit.errors import ComponentError, SpecError, StartupError
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Health
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import KubeApiError, KubeClient, collection, object_path
from drillkit.platforms.k8s.discover import FoundPod, discover
from drillkit.platforms.k8s.node_faults import GPU_TAINT, XIDS, env_marks, evict, mark_host, mark_key, marked_key, unmark_hosts

if TYPE_CHECKING:
    from drillkit.platforms.attached import AttachedPlatform


def scaled_from_key(env: str) -> str:
    """The controller label that records a region stop: the replicas it had (a label, not an
    annotation, so the undo finds the controller by a selector once its pods are gone)."""
    return f"{env}.drillkit.io/scaled-from"


def partition_key(env: str) -> str:
    """The pod label a partition's NetworkPolicy selects (its value: the drillkit node)."""
    return f"{env}.drillkit.io/partition"


def kill(p: AttachedPlatform, node: str) -> None:
    kube, pod = _pod(p, node)
    kube.delete(_pod_path(pod), {"gracePeriodSeconds": 0, "preconditions": {"uid": pod.uid}})


def drain(p: AttachedPlatform, node: str) -> None:
    """Cordon the pod's node; evict the region's selected pods on it (nobody else's)."""
    kube, pod = _pod(p, node)
    if pod.host is None:
        return
    mark_host(p, kube, pod.host, mark_key(p.name, "drain", node))
    blocked = [x.name for x in _selected_on(p, node, pod.host) if not evict(kube, x.namespace, x.name)]
    if blocked:
        raise ComponentError(f"{pod.host} is cordoned, but a PodDisruptionBudget refused to evict {', '.join(blocked)}; "
                             "the undo uncordons it")  # fmt: skip


def undrain(p: AttachedPlatform, node: str) -> None:
    unmark_hosts(p, p.clusters.region(region_of_node(p, node)), mark_key(p.name, "drain", node))


def gpu_fault(p: AttachedPlatform, node: str, xid: int) -> None:
    """A fatal Xid as the device plugin makes it: taint and cordon the node, its Triton pods gone."""
    if xid not in XIDS:
        raise ValueError(f"Xid {xid} is not simulated here; use 79 (device lost) or 48 (ECC error)")
    kube, pod = _pod(p, node)
    if pod.host is None:
        return
    mark_host(p, kube, pod.host, mark_key(p.name, "gpu", node), {"key": GPU_TAINT, "value": str(xid), "effect": "NoSchedule"})
    for x in _selected_on(p, node, pod.host):
        kube.delete(_pod_path(x), {"gracePeriodSeconds": 0, "preconditions": {"uid": x.uid}})


def stop_region(p: AttachedPlatform, region: str) -> None:
    """Scale the region's controller to zero, recording the replicas it had on it (a label), and delete its pods."""
    found = discover(p, region, fresh=True)
    kind, name = found.controller_ref(p.named_controller(region))
    kube = p.clusters.region(region)
    path = f"{collection(kind, found.namespace)}/{name}"
    obj = kube.get(path)
    if obj is None:
        raise SpecError(p.spec_file or "environment", f"kubernetes.clusters[{region}].controller", f"{kind} {name} is not there",
                        "name the controller that owns the region's pods")  # fmt: skip
    key = scaled_from_key(p.name)
    had = (obj["metadata"].get("labels") or {}).get(key) or str((obj.get("spec") or {}).get("replicas") or 0)
    # One patch: the replicas drillkit takes and the number it must give back, guarded by the
    # object's version (a rollout or an autoscaler that changed it in between is not overwritten).
    kube.patch(path, {"metadata": {"labels": {key: had}, "resourceVersion": obj["metadata"]["resourceVersion"]},
                      "spec": {"replicas": 0}})  # fmt: skip
    for pod in found.pods:
        try:
            kube.delete(_pod_path(pod), {"gracePeriodSeconds": 0, "preconditions": {"uid": pod.uid}})
        except KubeApiError as exc:
            if exc.status not in (404, 409):  # gone already, or replaced: either way not serving
                raise


def restore(p: AttachedPlatform, nodes: list[str]) -> None:
    """``restart_nodes``: scale back what a region stop scaled (from the controllers' labels),
    untaint and uncordon what a GPU fault marked, then wait until each region serves with every
    replica its controllers want, ready."""
    regions = list(dict.fromkeys(region_of_node(p, n) for n in nodes))
    wanted = {r: _scale_back(p, r) for r in regions}
    for region in regions:
        try:
            wanted[region] = max(wanted[region], sum(want for want, _ in discover(p, region, fresh=True).replicas.values()))
        except SpecError:
            pass  # no pod yet: the replicas given back are the count
    for node in nodes:
        unmark_hosts(p, p.clusters.region(region_of_node(p, node)), mark_key(p.name, "gpu", node), GPU_TAINT)
    deadline = p.clock() + p.k8s.start_timeout_s
    while True:
        short = {r: n for r, n in wanted.items() if _ready(p, r) < n}
        if not short:
            return
        if p.clock() > deadline:
            shown = ", ".join(f"{r} ({_ready(p, r)} of {n} ready)" for r, n in short.items())
            raise StartupError(f"regions not serving after {p.k8s.start_timeout_s:.0f} s: {shown}")
        p.sleep(p.poll_s)


def set_network_fault(p: AttachedPlatform, node: str, fault: Fault) -> None:
    """Blackhole a pod: label it, and a deny-all NetworkPolicy selecting the label. ``Fault()`` clears."""
    region = region_of_node(p, node)
    kube, namespace = p.clusters.region(region), p.k8s.namespace_of(region)
    if fault.is_clear:
        clear_network(p, kube, namespace, node)
        return
    if not fault.blackhole:
        raise SpecError(p.spec_file or "environment", "platform", "attach mode partitions pods (a NetworkPolicy); latency and "
                        "bandwidth faults need Chaos Mesh on pods drillkit deployed", "use partition, or deploy: true")  # fmt: skip
    _, pod = _pod(p, node)
    kube.patch(_pod_path(pod), {"metadata": {"labels": {partition_key(p.name): node}}})
    kube.apply({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta.metadata(f"{p.name}-partition-{node}", namespace,
                                  meta.labels(p.name, p.run().run, "fault", **{meta.NODE: node, meta.FAULT: "partition"})),
        "spec": {"podSelector": {"matchLabels": {partition_key(p.name): node}}, "policyTypes": ["Ingress", "Egress"]},
    })  # fmt: skip


def clear_network(p: AttachedPlatform, kube: KubeClient, namespace: str, node: str) -> list[str]:
    """Delete the node's partition policy and remove its label from whichever pod carries it."""
    deleted = []
    match = meta.environment_labels(p.name) | {meta.NODE: node, meta.COMPONENT: "fault"}
    for obj in kube.list("NetworkPolicy", namespace, meta.selector(match)):
        kube.delete(object_path(obj | {"kind": "NetworkPolicy"}))
        deleted.append(obj["metadata"]["name"])
    for pod in kube.list("Pod", namespace, meta.selector({partition_key(p.name): node})):
        kube.patch(object_path(pod | {"kind": "Pod"}), {"metadata": {"labels": {partition_key(p.name): None}}})
    return deleted


def sweep(p: AttachedPlatform) -> list[str]:
    """Undo every fault this environment left on the objects themselves, whatever the undo log
    says (``drillkit recover`` from a machine without it): controllers scaled back to the
    replicas they carry, nodes unmarked (uncordoned, untainted), partition policies and labels
    and hog pods removed. Returns what it did."""
    done: list[str] = []
    for region in p.spec.regions:
        kube, namespace = p.clusters.region(region.name), p.k8s.namespace_of(region.name)
        given = _scale_back(p, region.name)
        if given:
            done.append(f"{region.name}: scaled back to {given} replicas")
        for host in kube.list("Node", None, marked_key(p.name)):
            for key in env_marks(p.name, host):
                unmark_hosts(p, kube, key, GPU_TAINT if "/gpu-" in key else None)
                done.append(f"{region.name}: node {host['metadata']['name']} unmarked ({key})")
        policies = kube.list("NetworkPolicy", namespace, meta.selector(meta.environment_labels(p.name) | {meta.COMPONENT: "fault"}))
        labelled = kube.list("Pod", namespace, partition_key(p.name))
        partitioned = {o["metadata"]["labels"].get(meta.NODE, "") for o in policies} | {o["metadata"]["labels"][partition_key(p.name)] for o in labelled}
        for node in sorted(partitioned):
            clear_network(p, kube, namespace, node)
            done.append(f"{region.name}: partition of {node} cleared")
        for hog in kube.list("Pod", namespace, meta.selector(meta.environment_labels(p.name) | {meta.COMPONENT: "hog"})):
            kube.delete(f"{collection('Pod', namespace)}/{hog['metadata']['name']}", {"gracePeriodSeconds": 5})
            done.append(f"{region.name}: hog pod {hog['metadata']['name']} deleted")
    return done


def _scale_back(p: AttachedPlatform, region: str) -> int:
    """Every controller of the region's namespace that carries drillkit's label gets its
    replicas back (the label goes in the same patch); the replicas given back."""
    kube, namespace, key = p.clusters.region(region), p.k8s.namespace_of(region), scaled_from_key(p.name)
    given = 0
    for kind in ("Deployment", "StatefulSet"):
        for obj in kube.list(kind, namespace, key):
            had = (obj["metadata"].get("labels") or {}).get(key)
            if had is None or not str(had).isdigit():
                continue
            kube.patch(f"{collection(kind, namespace)}/{obj['metadata']['name']}",
                       {"metadata": {"labels": {key: None}}, "spec": {"replicas": int(had)}})  # fmt: skip
            given += int(had)
    return given


def _ready(p: AttachedPlatform, region: str) -> int:
    try:
        return sum(1 for x in discover(p, region, fresh=True).pods if x.health is Health.READY)
    except SpecError:
        return 0  # nothing matches yet: the controller has not made a pod


def _pod(p: AttachedPlatform, node: str) -> tuple[KubeClient, FoundPod]:
    region = region_of_node(p, node)
    pod = discover(p, region).node_pods().get(node)
    if pod is None:
        raise ComponentError(f"node {node} has no pod now (the region has {len(discover(p, region).pods)}); is it up?")
    return p.clusters.region(region), pod


def _selected_on(p: AttachedPlatform, node: str, host: str) -> list[FoundPod]:
    """The region's selected pods on ``host`` (never another tenant's)."""
    return [x for x in discover(p, region_of_node(p, node), fresh=True).pods if x.host == host]


def region_of_node(p: AttachedPlatform, node: str) -> str:
    """A node's region from its name alone (its pod may be gone): ``<region>-<i>``."""
    region, _, index = node.rpartition("-")
    if region in {r.name for r in p.spec.regions} and index.isdigit():
        return region
    return p.region_of(node)


def _pod_path(pod: FoundPod) -> str:
    return f"{collection('Pod', pod.namespace)}/{pod.name}"


def wait_ready_count(p: AttachedPlatform, region: str, count: int) -> float:
    """Wait until ``count`` of the region's selected pods are ready; the time it took."""
    started = time.time()
    deadline = p.clock() + p.k8s.start_timeout_s
    while _ready(p, region) < count:
        if p.clock() > deadline:
            raise StartupError(f"{region}: {_ready(p, region)} of {count} pods ready after {p.k8s.start_timeout_s:.0f} s")
        p.sleep(p.poll_s)
    return time.time() - started

