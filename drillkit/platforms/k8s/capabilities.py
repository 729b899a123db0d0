"""What the Kubernetes platform cannot do, and why: one table, read at plan time (a drill
that needs it is refused before anything runs) and again when a fault is made.

>>> gap(KubernetesSpec(...), Capability.NETWORK_RESETS).fix   # doctest: +SKIP
'use partition (NetworkPolicy) or add_latency (Chaos Mesh) instead'
"""

from __future__ import annotations

from drillkit.platforms.base import Capability, Gap
from drillkit.spec.kubernetes import KubernetesSpec

_RESETS = Gap("connection resets cannot be made on Kubernetes: Chaos Mesh has no RST fault and a NetworkPolicy only drops packets",
              "use partition (NetworkPolicy) or add_latency (Chaos Mesh) instead")  # fmt: skip
_NO_MESH = Gap("latency and bandwidth faults on Kubernetes need Chaos Mesh (a NetworkPolicy can only partition)",
               "install Chaos Mesh in the region's cluster and set kubernetes.chaos_mesh: true")  # fmt: skip
_REPOSITORY = Gap("the model repository is not available on Kubernetes: it is a PVC or object storage that only the pods see",
                  "run data-loss and restore drills on the local platform; publish models to the bucket or PVC")  # fmt: skip


def gap(spec: KubernetesSpec, capability: Capability) -> Gap | None:
    """Why the platform described by ``spec`` cannot do ``capability`` (None: it can)."""
    if capability is Capability.NETWORK_RESETS:
        return _RESETS
    if capability in (Capability.NETWORK_LATENCY, Capability.NETWORK_BANDWIDTH) and not spec.chaos_mesh:
        return _NO_MESH
    if capability is Capability.REPOSITORY:
        return _REPOSITORY
    return None
