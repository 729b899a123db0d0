"""Attach mode: what each region's selector finds in the user's cluster.

For every region: the pods its ``selector`` matches in its namespace (sorted by name; drillkit
node ``<region>-<i>`` is the i-th of them), each pod's controller (found through its owner
references: a ReplicaSet's Deployment, or a StatefulSet; whatever else is named as it is), the
cluster nodes they run on with their GPUs, and the model version each pod serves (the
``version_label``). Nothing is written: discovery only reads.

>>> found = discover(platform, "us-east-1")                    # doctest: +SKIP
>>> found.node_pods()["us-east-1-0"].name, found.controller_ref()
('recsys-a-7c9f-x2k4d', ('Deployment', 'recsys-a'))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drillkit.errors import SpecError
from drillkit.platforms.base import Health
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import KubeClient, collection
from drillkit.platforms.k8s.status import pod_health

if TYPE_CHECKING:
    from drillkit.platforms.attached import AttachedPlatform

GPU_RESOURCE_DEFAULT = "nvidia.com/gpu"
CACHE_S = 1.0


@dataclass(frozen=True)
class FoundPod:
    name: str
    namespace: str
    uid: str
    host: str | None  # the cluster node it runs on (None: not scheduled)
    health: Health
    controller: tuple[str, str]  # (kind, name): who would bring it back
    version: str | None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FoundHost:
    name: str
    gpus: int
    ready: bool
    unschedulable: bool


@dataclass(frozen=True)
class Region:
    """One region as discovered: its context, namespace, pods and their hosts."""

    region: str
    context: str
    namespace: str
    selector: dict[str, str]
    pods: list[FoundPod]
    hosts: dict[str, FoundHost]
    replicas: dict[tuple[str, str], tuple[int, int]]  # controller -> (replicas, ready)

    def node_pods(self) -> dict[str, FoundPod]:
        """drillkit node name -> pod (``us-east-1-0`` is the first pod by name)."""
        return {f"{self.region}-{i}": pod for i, pod in enumerate(self.pods)}

    def controllers(self) -> list[tuple[str, str]]:
        return sorted({p.controller for p in self.pods})

    def controller_ref(self, named: tuple[str, str] | None = None) -> tuple[str, str]:
        """The one controller a region stop scales: the spec's, else the only one that owns the pods;
        a SpecError with the fix when the pods have several (or none that can scale)."""
        if named is not None:
            return named
        owners = self.controllers()
        scalable = [c for c in owners if c[0] in ("Deployment", "StatefulSet")]
        if len(owners) != 1 or not scalable:
            shown = ", ".join(f"{k} {n}" for k, n in owners) or "none"
            raise SpecError("environment", f"kubernetes.clusters[{self.region}].controller",
                            f"the selector {meta.selector(self.selector)} matches pods of {len(owners)} controllers ({shown}); "
                            "a region stop scales one", "narrow the selector, or name the controller to scale")  # fmt: skip
        return scalable[0]


def discover(p: AttachedPlatform, region: str, *, fresh: bool = False) -> Region:
    """The region as found (read again unless ``fresh`` is false and a read is under a second
    old: a fault's targets and its action see the same pods)."""
    cached = p.discovered.get(region)
    if not fresh and cached is not None and p.clock() - cached[0] < CACHE_S:
        return cached[1]
    found = _discover(p, region)
    p.discovered[region] = (p.clock(), found)
    return found


def _discover(p: AttachedPlatform, region: str) -> Region:
    """Read the region's pods, their controllers and hosts (a SpecError when the selector matches nothing)."""
    cluster = p.k8s.cluster(region)
    namespace = p.k8s.namespace_of(region)
    selector = dict(cluster.selector or {})
    kube = p.clusters.region(region)
    raw = sorted(kube.list("Pod", namespace, meta.selector(selector)), key=lambda o: o["metadata"]["name"])
    live = [o for o in raw if not o["metadata"].get("deletionTimestamp")]
    if not live:
        raise SpecError(p.spec_file or "environment", f"kubernetes.clusters[{region}].selector",
                        f"{meta.selector(selector)} matches no pod in namespace {namespace} of context {cluster.context}",
                        "check the labels with `kubectl get pods -l ...` and the namespace")  # fmt: skip
    owners: dict[str, tuple[str, str]] = {}
    pods = [_pod(kube, o, namespace, p.k8s.version_label, owners) for o in live]
    hosts = {h: _host(kube, h, p.k8s.gpu.resource or GPU_RESOURCE_DEFAULT) for h in sorted({x.host for x in pods if x.host})}
    named = (cluster.controller.kind, cluster.controller.name) if cluster.controller is not None else None
    replicas = {c: _replicas(kube, namespace, c) for c in {*(x.controller for x in pods), *([named] if named else [])}
                if c[0] in ("Deployment", "StatefulSet")}  # fmt: skip
    return Region(region, cluster.context, namespace, selector, pods, hosts, replicas)


def _pod(kube: KubeClient, obj: dict[str, Any], namespace: str, version_label: str, owners: dict[str, tuple[str, str]]) -> FoundPod:
    labels = obj["metadata"].get("labels") or {}
    return FoundPod(name=obj["metadata"]["name"], namespace=namespace, uid=obj["metadata"].get("uid", ""),
                    host=(obj.get("spec") or {}).get("nodeName"), health=pod_health(obj),
                    controller=_controller(kube, obj, namespace, owners), version=labels.get(version_label), labels=labels)  # fmt: skip


def _controller(kube: KubeClient, obj: dict[str, Any], namespace: str, owners: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """The controller that owns the pod: a ReplicaSet's own owner (a Deployment), else its owner itself."""
    ref = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    if ref is None:
        return ("Pod", obj["metadata"]["name"])  # a bare pod: nothing brings it back
    kind, name = str(ref.get("kind")), str(ref.get("name"))
    if kind != "ReplicaSet":
        return (kind, name)
    if name not in owners:
        rs = kube.get(f"{collection('ReplicaSet', namespace)}/{name}") or {}
        up = next((r for r in (rs.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None)
        owners[name] = (str(up["kind"]), str(up["name"])) if up else ("ReplicaSet", name)
    return owners[name]


def _host(kube: KubeClient, name: str, gpu_resource: str) -> FoundHost:
    node = kube.get(f"{collection('Node')}/{name}") or {}
    status = node.get("status") or {}
    gpus = (status.get("allocatable") or {}).get(gpu_resource) or (status.get("capacity") or {}).get(gpu_resource) or 0
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return FoundHost(name=name, gpus=int(gpus), ready=ready, unschedulable=bool((node.get("spec") or {}).get("unschedulable")))


def _replicas(kube: KubeClient, namespace: str, controller: tuple[str, str]) -> tuple[int, int]:
    obj = kube.get(f"{collection(controller[0], namespace)}/{controller[1]}") or {}
    return int((obj.get("spec") or {}).get("replicas") or 0), int((obj.get("status") or {}).get("readyReplicas") or 0)
