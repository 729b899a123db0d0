"""The Kubernetes platform: one cluster (kube context) per region, the same drills as locally.

What a drillkit *node* is here: a Triton pod of the region's StatefulSet. Node ``primary-2``
is pod ``<env>-primary-2`` (the StatefulSet ordinal), so names are stable and a crashed node
comes back under its own name, and a fault aimed at a node follows its replacement pod.

How each primitive maps (see ``k8s/node_faults.py`` and ``k8s/side_faults.py``):

| primitive | on Kubernetes | undone by |
|---|---|---|
| ``kill_node`` | delete the pod, grace 0; the StatefulSet recreates it | ``restart_nodes``: wait until ready |
| ``stop_region`` | scale the region's StatefulSet to 0 and delete its pods | ``restart_nodes``: scale back, wait |
| ``pause_node`` | cordon the pod's node and evict drillkit's pods on it (a drain) | ``resume_node``: uncordon |
| ``inject_gpu_fault`` | taint and cordon the GPU node, delete its Triton pods (device plugin view) | ``restart_nodes``: untaint, uncordon, wait |
| ``set_network_fault`` | blackhole: deny-all NetworkPolicy; latency/bandwidth: Chaos Mesh | ``Fault()``: delete them |
| ``start_hog`` | a pod pinned to the node, on its GPU, running ``drillkit.chaos.hog`` | ``stop_hog``: delete it |
| ``set_node_version`` | re-apply the StatefulSet with the version and the node's ordinal as partition (``k8s/versions.py``) | ``set_node_version`` back |

Every object drillkit creates is labelled (``drillkit.io/run``, ``drillkit.io/environment``,
``app.kubernetes.io/managed-by``); node changes are recorded as labels on the node in the same
patch that makes them. Only the contexts the spec names are touched (``k8s/clusters.py``).

>>> platform = KubernetesPlatform(load_environment("drills/environments/kubernetes.yaml"))  # doctest: +SKIP
>>> platform.up().gateway_url                                                              # doctest: +SKIP
'http://172.18.0.2:30080'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from drillkit import try_timeout
from drillkit.errors import NotUpError, SpecError
from drillkit.gateway import GatewayCounters
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Capability, EnvironmentStatus, Gap, NodeSwitch, ScaleResult
from drillkit.platforms.k8s import deploy, node_faults, scale, side_faults, status, versions
from drillkit.platforms.k8s.capabilities import gap
from drillkit.platforms.k8s.clusters import Clusters
from drillkit.platforms.k8s.run import RunRecord, load_run
from drillkit.spec import EnvironmentSpec, KubernetesSpec, state_root
from drillkit.try_timeout import TryTimeouts
from drillkit.undo import UndoLog
from drillkit.workload.golden import GoldenSet


class KubernetesPlatform:
    """Two (or more) regions, each a StatefulSet of Triton pods in its own cluster.

    Attributes:
        name: the environment's name.
        spec: the validated environment spec; ``k8s`` is its ``kubernetes:`` section.
        root: the local state folder (run record, undo log, drill lock).
        clusters: the API clients of the contexts this environment may touch.
        poll_s: how often waits poll the API; ``sleep`` and ``clock`` make the waits.
    """

    gpu_fault_layer = "device-plugin"  # taint + cordon + evict: what the NVIDIA device plugin does on an Xid
    hog_layer = "pod"  # a hog pod pinned to the node's GPU

    def __init__(
        self,
        spec: EnvironmentSpec,
        *,
        spec_file: str | None = None,
        allow_contexts: Iterable[str] = (),
        poll_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert spec.kubernetes is not None, "validated: platform kubernetes has a kubernetes section"
        self.name = spec.name
        self.spec = spec
        self.k8s: KubernetesSpec = spec.kubernetes
        self.spec_file = spec_file
        self.root = state_root(spec).resolve()
        self.clusters = Clusters(spec.kubernetes, spec_file=spec_file or "environment", allow=allow_contexts)
        self.poll_s = poll_s
        self.sleep = sleep
        self.clock = clock

    @property
    def run_path(self) -> Path:
        return self.root / "kubernetes.json"

    def run(self) -> RunRecord:
        """The run ``up`` recorded; NotUpError when there is none."""
        record = load_run(self.run_path)
        if record is None:
            raise NotUpError(f"environment {self.name!r} is not up: run `drillkit up` first")
        return record

    def up(self) -> EnvironmentStatus:
        """Apply every object (idempotent) and wait until every pod is ready and the gateway serves."""
        deploy.up(self)
        return self.status()

    def down(self) -> list[str]:
        """Delete every object labelled with this environment (and run); return ``context/kind/name``s."""
        return deploy.down(self)

    def status(self) -> EnvironmentStatus:
        return status.environment_status(self)

    def kill_node(self, node: str) -> None:
        node_faults.kill(self, node)

    def pause_node(self, node: str) -> None:
        node_faults.drain(self, node)

    def resume_node(self, node: str) -> str | None:
        node_faults.undrain(self, node)  # the StatefulSet brings the evicted pod back; the drill measures how fast
        return None

    def stop_region(self, region: str) -> None:
        """A region outage that lasts until ``restart_nodes``: its StatefulSet scaled to zero, pods gone."""
        node_faults.stop_region(self, region)

    def restart_node(self, node: str) -> None:
        self.restart_nodes([node])

    def restart_nodes(self, nodes: list[str]) -> None:
        node_faults.restore(self, nodes)

    def gateway_states(self) -> dict[str, str]:
        return status.gateway_states(self)

    def gateway_counters(self) -> GatewayCounters | None:
        return status.gateway_counters(self)

    def try_timeouts(self) -> TryTimeouts:
        # The in-cluster gateway is not calibrated (drillkit cannot reach its runtime API):
        # it runs the spec's try_timeout_ms, else the server timeout, for every model served.
        return try_timeout.fixed(self.spec.gateway, deploy.served_by(deploy.local_version(self, fetch=False)).models)

    def node_names(self, region: str | None = None) -> list[str]:
        scaled = (load_run(self.run_path) or RunRecord(environment=self.name, run="", started_at=0)).replicas
        return [f"{r.name}-{i}" for r in self.spec.regions if region in (None, r.name) for i in range(scaled.get(r.name, r.nodes))]

    def live_nodes(self, region: str) -> tuple[int, int]:
        return scale.live(self, region)

    def scale_region(self, region: str, nodes: int) -> ScaleResult:
        return scale.scale(self, region, nodes)

    def set_network_fault(self, node: str, fault: Fault) -> None:
        side_faults.set_network_fault(self, node, fault)

    def inject_gpu_fault(self, node: str, xid: int) -> None:
        node_faults.gpu_fault(self, node, xid)

    def start_hog(self, handle: str, node: str, kind: str, level: float, duration_s: float) -> None:
        side_faults.start_hog(self, handle, node, kind, level, duration_s)

    def stop_hog(self, handle: str) -> None:
        side_faults.stop_hog(self, handle)

    def undo_log(self) -> UndoLog:
        return UndoLog(self.root / "undo.jsonl")

    # Data-loss faults and restores need the region's model repository as a local folder; on
    # Kubernetes it is a PVC or object storage that only pods see. Refused, plainly.
    def region_repository(self, region: str) -> Path:
        raise self._no_repository("a region's model repository")

    def switch_repository(self, region: str, new_dir: Path) -> None:
        raise self._no_repository("switching a region's model repository")

    def verification_node(self, region: str, repository: Path) -> AbstractContextManager[str]:
        raise self._no_repository("a verification node")

    def rollout_order(self) -> list[str]:
        return versions.order(self)

    def publish_version(self, version: str) -> list[str]:
        return versions.publish(self, version)

    def set_node_version(self, node: str, version: str) -> NodeSwitch:
        return versions.switch(self, node, version)

    def adopt_golden(self, golden: GoldenSet) -> list[Path]:
        """Drills read the golden answers from the local model cache, where `golden record` wrote
        them, and pods never read them; a deployed gateway takes the first probe as its deep check
        (its configuration changes, so its pod rolls) and is waited for."""
        if self.k8s.gateway.deploy is not None:
            deploy.apply_gateway(self, self.run().run, deploy.served_by(deploy.local_version(self, fetch=False)))
            deploy.wait_ready(self)
        return []

    def _no_repository(self, what: str) -> SpecError:
        missing = gap(self.k8s, Capability.REPOSITORY)
        assert missing is not None
        return SpecError(self.spec_file or "environment", "platform", f"{what}: {missing.reason}", missing.fix)

    def lacks(self, capability: Capability) -> Gap | None:
        return gap(self.k8s, capability)

    def region_of(self, node: str) -> str:
        """The region of a node name; KeyError lists the known nodes."""
        for region in self.spec.regions:
            if node in self.node_names(region.name):
                return region.name
        raise KeyError(f"no node {node!r}; nodes: {', '.join(self.node_names())}")
