"""Attach mode (``platform: kubernetes``, ``kubernetes.deploy: false``): drills on a two-region
Triton deployment that drillkit did not create (Helm, KServe, plain Deployments).

A drillkit *node* is one of the pods a region's ``selector`` finds: ``us-east-1-0`` is the
first by name, now. ``up`` only looks (and refuses a selector that finds nothing); ``down``
changes nothing and says so. The faults (``k8s/attach_faults.py``) change the user's objects
only as recorded faults; the blast radius of each is listed before a drill runs
(``k8s/blast.py``). Releases, data-loss faults and restores are the user's pipeline's, not
drillkit's, here.

>>> platform = open_platform(load_environment("drills/environments/attach.yaml"))   # doctest: +SKIP
>>> platform.node_names("us-east-1")                                               # doctest: +SKIP
['us-east-1-0', 'us-east-1-1', 'us-east-1-2', 'us-east-1-3']
"""

from __future__ import annotations

import time
from pathlib import Path

from drillkit import try_timeout
from drillkit.errors import ComponentError, NotUpError, SpecError
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Capability, ComponentKind, ComponentStatus, EnvironmentStatus, Gap, NodeSwitch, ScaleResult, scale_bounds
from drillkit.platforms.k8s import attach_faults, meta
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.discover import Region, discover
from drillkit.platforms.k8s.render_faults import hog_pod
from drillkit.platforms.k8s.run import RunRecord, load_run, new_run, save_run
from drillkit.platforms.k8s.status import gateway_counters, gateway_states
from drillkit.platforms.kubernetes import KubernetesPlatform
from drillkit.try_timeout import TryTimeouts
from drillkit.workload.golden import GoldenSet

NOTHING_TO_STOP = "attach mode: drillkit started nothing, so `down` stops nothing; your deployment is as it was"


class AttachedPlatform(KubernetesPlatform):
    """The user's pods in two (or more) contexts; see the module docstring."""

    gpu_fault_layer = "device-plugin"
    hog_layer = "pod"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.discovered: dict[str, tuple[float, Region]] = {}

    def discover(self, region: str, *, fresh: bool = True) -> Region:
        return discover(self, region, fresh=fresh)

    def named_controller(self, region: str) -> tuple[str, str] | None:
        ref = self.k8s.cluster(region).controller
        return (ref.kind, ref.name) if ref is not None else None

    def run(self) -> RunRecord:
        """The attach record (its id labels the objects drillkit creates: partition policies, hogs)."""
        record = load_run(self.run_path)
        if record is None:
            raise NotUpError(f"environment {self.name!r} is not attached: run `drillkit up` (it only looks) first")
        return record

    def up(self) -> EnvironmentStatus:
        """Look at every region (a selector that finds nothing is refused) and record the attach."""
        for region in self.spec.regions:
            self.discover(region.name)
        if load_run(self.run_path) is None:
            save_run(self.run_path, new_run(self.name, now=time.time()))
        return self.status()

    def down(self) -> list[str]:
        """Nothing: drillkit started nothing here (the CLI says so). The attach record stays, so
        the objects a fault left (found by its labels) can still be undone by `recover`."""
        return []

    def status(self) -> EnvironmentStatus:
        record = load_run(self.run_path)
        states = gateway_states(self) if record is not None else {}
        rows: list[ComponentStatus] = []
        for region in self.spec.regions:
            try:
                found = self.discover(region.name)
            except (SpecError, ComponentError):
                continue
            for node, pod in found.node_pods().items():
                rows.append(ComponentStatus(name=node, kind=ComponentKind.NODE, region=region.name, health=pod.health,
                                            endpoint=None, gateway_state=states.get(node), version=pod.version))  # fmt: skip
        url = self.k8s.gateway.external.url if self.k8s.gateway.external is not None else None
        return EnvironmentStatus(
            environment=self.name, platform="kubernetes", up=record is not None and bool(rows), started_at=record.started_at if record else None,
            gateway_url=url, prometheus_url=self.spec.prometheus.url, model_version=self.spec.model.version,
            alertmanager_url=self.spec.alertmanager_url, components=tuple(rows),
        )  # fmt: skip

    def node_names(self, region: str | None = None) -> list[str]:
        names = []
        for r in self.spec.regions:
            if region in (None, r.name):
                try:
                    names += list(self.discover(r.name, fresh=False).node_pods())
                except SpecError:
                    continue  # a region with no pod now (stopped): no nodes
        return names

    def kill_node(self, node: str) -> None:
        attach_faults.kill(self, node)

    def pause_node(self, node: str) -> None:
        attach_faults.drain(self, node)

    def resume_node(self, node: str) -> str | None:
        attach_faults.undrain(self, node)
        return None

    def stop_region(self, region: str) -> None:
        attach_faults.stop_region(self, region)

    def restart_nodes(self, nodes: list[str]) -> None:
        attach_faults.restore(self, nodes)

    def inject_gpu_fault(self, node: str, xid: int) -> None:
        attach_faults.gpu_fault(self, node, xid)

    def set_network_fault(self, node: str, fault: Fault) -> None:
        attach_faults.set_network_fault(self, node, fault)

    def start_hog(self, handle: str, node: str, kind: str, level: float, duration_s: float) -> None:
        """A hog pod (drillkit's image, drillkit's labels) beside the node's pod, in its namespace."""
        if self.k8s.images is None:
            raise SpecError(self.spec_file or "environment", "kubernetes.images.drillkit", "a hog pod runs drillkit's image",
                            "set kubernetes.images.drillkit")  # fmt: skip
        region = attach_faults.region_of_node(self, node)
        pod = self.discover(region).node_pods().get(node)
        if pod is None or pod.host is None:
            raise NotUpError(f"node {node} has no scheduled pod to put a hog beside")
        doc = hog_pod(self.spec, self.run().run, handle=handle, node=node, host=pod.host, kind=kind, level=level, duration_s=duration_s)
        doc["metadata"]["namespace"] = pod.namespace
        self.clusters.region(region).apply(doc)

    def stop_hog(self, handle: str) -> None:
        match = meta.environment_labels(self.name) | {meta.HOG: handle, meta.COMPONENT: "hog"}
        for region in self.spec.regions:
            kube, namespace = self.clusters.region(region.name), self.k8s.namespace_of(region.name)
            for obj in kube.list("Pod", namespace, meta.selector(match)):
                kube.delete(f"{collection('Pod', namespace)}/{obj['metadata']['name']}", {"gracePeriodSeconds": 5})

    def sweep(self) -> list[str]:
        """``drillkit recover``'s second pass: whatever faults of this environment are still on the objects."""
        return attach_faults.sweep(self)

    def gateway_states(self) -> dict[str, str]:
        return gateway_states(self)

    def gateway_counters(self):  # type: ignore[no-untyped-def]
        return gateway_counters(self)

    def try_timeouts(self) -> TryTimeouts:
        return try_timeout.fixed(self.spec.gateway, ())

    def live_nodes(self, region: str) -> tuple[int, int]:
        found = self.discover(region)
        kind_name = found.controller_ref(self.named_controller(region))
        return found.replicas.get(kind_name, (len(found.pods), 0))

    def scale_region(self, region: str, nodes: int) -> ScaleResult:
        """The region's controller to ``nodes`` replicas (its scale subresource), until that many pods are ready."""
        scale_bounds(self.spec, self.spec_file or self.name, region, nodes)
        found = self.discover(region)
        kind, name = found.controller_ref(self.named_controller(region))
        before = len(found.pods)
        requested = time.time()
        self.clusters.region(region).patch(f"{collection(kind, found.namespace)}/{name}/scale", {"spec": {"replicas": nodes}})
        attach_faults.wait_ready_count(self, region, nodes)
        done = time.time()
        return ScaleResult(region=region, from_nodes=before, to_nodes=nodes, nodes=[], requested_at=requested, ready_at=done, serving_at=done)

    def lacks(self, capability: Capability) -> Gap | None:
        gaps = {
            Capability.NETWORK_LATENCY: "latency faults need Chaos Mesh on pods drillkit deployed",
            Capability.NETWORK_BANDWIDTH: "bandwidth faults need Chaos Mesh on pods drillkit deployed",
            Capability.NETWORK_RESETS: "connection resets need drillkit's fault proxy in front of the nodes",
            Capability.REPOSITORY: "your model repository is your pipeline's: drillkit does not destroy or restore it",
            Capability.NODE_ENDPOINTS: "each pod's own endpoint is inside your cluster",
        }  # fmt: skip
        if capability in gaps:
            return Gap(f"attach mode: {gaps[capability]}", "use crash_node, hang_node, region_outage, partition, the GPU device "
                                                           "faults or the pressure hogs, or deploy: true")  # fmt: skip
        return None

    # A release of the user's model goes through the user's own pipeline.
    def rollout_order(self) -> list[str]:
        raise self._not_here("rolling out a release")

    def publish_version(self, version: str) -> list[str]:
        raise self._not_here("publishing a model version")

    def set_node_version(self, node: str, version: str) -> NodeSwitch:
        raise self._not_here("switching a pod's model version")

    def adopt_golden(self, golden: GoldenSet) -> list[Path]:
        return []  # recorded from the user's healthy service; nothing to re-apply

    def _not_here(self, what: str) -> SpecError:
        return SpecError(self.spec_file or "environment", "kubernetes.deploy", f"attach mode: {what} is your pipeline's, not drillkit's",
                         "run release drills on an environment drillkit deploys")  # fmt: skip
