"""Manifests of the objects faults create: partitions, Chaos Mesh network faults, hog pods.

Each targets one drillkit node through the pod-name label the StatefulSet controller sets
(``statefulset.kubernetes.io/pod-name``), so a fault follows the node when its pod is
replaced, and each carries the run, fault and node labels its undo deletes it by.

>>> partition_policy(spec, "k8s-20260101000000", "primary-0")["spec"]["policyTypes"]   # doctest: +SKIP
['Ingress', 'Egress']
"""

from __future__ import annotations

import math

from drillkit.errors import SpecError
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Capability
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.capabilities import gap
from drillkit.platforms.k8s.render_region import Manifest
from drillkit.spec import EnvironmentSpec, KubernetesSpec

CHAOS_MESH_API = "chaos-mesh.org/v1alpha1"


def fault_labels(spec: EnvironmentSpec, run: str, fault: str, node: str) -> dict[str, str]:
    return meta.labels(spec.name, run, "fault", **{meta.FAULT: fault, meta.NODE: node})


def partition_policy(spec: EnvironmentSpec, run: str, node: str) -> Manifest:
    """Deny every packet to and from the node's pod: a NetworkPolicy with no rule allows nothing."""
    k = _k8s(spec)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(f"{spec.name}-partition-{node}", k.namespace, fault_labels(spec, run, "partition", node)),
        "spec": {
            "podSelector": {"matchLabels": {meta.POD_NAME: meta.node_pod(spec.name, node)}},
            "policyTypes": ["Ingress", "Egress"],
        },
    }


def network_chaos(spec: EnvironmentSpec, run: str, node: str, fault: Fault) -> list[Manifest]:
    """Chaos Mesh NetworkChaos objects for latency and bandwidth (``kubernetes.chaos_mesh: true``)."""
    k = _k8s(spec)
    needs = [c for c, wanted in ((Capability.NETWORK_RESETS, fault.reset_ratio > 0),
                                 (Capability.NETWORK_LATENCY, fault.latency_ms > 0),
                                 (Capability.NETWORK_BANDWIDTH, fault.bandwidth_kbps is not None)) if wanted]  # fmt: skip
    for capability in needs:
        missing = gap(k, capability)
        if missing is not None:
            raise SpecError("environment", "kubernetes", missing.reason, missing.fix)
    docs = []
    if fault.latency_ms > 0:
        delay = {"latency": f"{fault.latency_ms:g}ms", "jitter": f"{fault.jitter_ms:g}ms", "correlation": "0"}
        docs.append(_chaos(spec, k, run, node, "delay", {"delay": delay}))
    if fault.bandwidth_kbps is not None:
        rate = {"rate": f"{fault.bandwidth_kbps:g}kbps", "limit": 20971520, "buffer": 10000}
        docs.append(_chaos(spec, k, run, node, "bandwidth", {"bandwidth": rate}))
    return docs


def _chaos(spec: EnvironmentSpec, k: KubernetesSpec, run: str, node: str, action: str, body: Manifest) -> Manifest:
    return {
        "apiVersion": CHAOS_MESH_API,
        "kind": "NetworkChaos",
        "metadata": meta.metadata(f"{spec.name}-{action}-{node}", k.namespace, fault_labels(spec, run, action, node)),
        "spec": {
            "action": action,
            "mode": "all",
            "selector": {"namespaces": [k.namespace], "labelSelectors": {meta.POD_NAME: meta.node_pod(spec.name, node)}},
            # The pod's outgoing packets (its answers): one request/response exchange is slowed
            # once, as with the local fault proxy.
            "direction": "to",
            **body,
        },
    }


def hog_pod(spec: EnvironmentSpec, run: str, *, handle: str, node: str, host: str, kind: str, level: float,
            duration_s: float) -> Manifest:  # fmt: skip
    """A pod pinned to the GPU node ``host`` running ``python -m drillkit.chaos.hog``; it ends by itself."""
    k = _k8s(spec)
    container: Manifest = {
        "name": "hog",
        "image": k.images.drillkit,
        "imagePullPolicy": k.images.pull_policy,
        "command": ["python", "-m", "drillkit.chaos.hog"],
        "args": ["--kind", kind, "--level", f"{level:g}", "--device", spec.model.device, "--duration", f"{duration_s:g}"],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if k.gpu.count and k.gpu.hog_access == "request":
        container["resources"] = {"limits": {k.gpu.resource: "1"}}  # a share of the node's GPU (time-slicing/MPS)
    elif k.gpu.count:
        container["env"] = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]  # the runtime exposes every GPU
    pod: Manifest = {
        "nodeName": host,  # beside the Triton pod, on its GPU, whatever the scheduler thinks
        "restartPolicy": "Never",
        # The cluster ends the hog even if drillkit dies and nobody runs `drillkit recover`.
        "activeDeadlineSeconds": math.ceil(duration_s) + 60,
        "containers": [container],
    }
    if k.gpu.tolerations:
        pod["tolerations"] = [t.model_dump(exclude_none=True) for t in k.gpu.tolerations]
    if k.images.pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in k.images.pull_secrets]
    labels = meta.labels(spec.name, run, "hog", **{meta.HOG: handle, meta.NODE: node})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta.metadata(f"{spec.name}-{handle}", k.namespace, labels), "spec": pod}


def _k8s(spec: EnvironmentSpec) -> KubernetesSpec:
    assert spec.kubernetes is not None, "a kubernetes environment"
    return spec.kubernetes
