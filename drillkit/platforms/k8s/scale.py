"""Scaling a Kubernetes region: the StatefulSet's replicas, through its scale subresource.

Out: the new ordinals' pods start (each verifies its model before it serves) and join the
region's Service once ready, which is when the gateway's region server sends them traffic. In:
the controller deletes the highest ordinals, each leaving the Service's endpoints when it
starts terminating and keeping its grace period for what it serves (the drain). The count is
kept in the run record, so the nodes of a region are known from any machine afterwards.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from drillkit.errors import StartupError
from drillkit.platforms.base import Health, ScaleResult, scale_bounds
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.run import save_run
from drillkit.platforms.k8s.status import pod_health

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform


def scale(p: KubernetesPlatform, region: str, nodes: int) -> ScaleResult:
    """Bring ``region``'s StatefulSet to ``nodes`` replicas and wait until it serves with them."""
    spec = scale_bounds(p.spec, p.spec_file or p.name, region, nodes)
    record = p.run()
    before = record.replicas.get(region, spec.nodes)
    requested = time.time()
    kube = p.clusters.region(region)
    kube.patch(f"{collection('StatefulSet', p.k8s.namespace)}/{meta.statefulset_name(p.name, region)}/scale", {"spec": {"replicas": nodes}})
    save_run(p.run_path, record.model_copy(update={"replicas": {**record.replicas, region: nodes}}))
    names = [f"{region}-{i}" for i in range(min(before, nodes), max(before, nodes))]
    _wait(p, region, names, Health.READY if nodes > before else Health.DEAD)
    done = time.time()
    return ScaleResult(region=region, from_nodes=before, to_nodes=nodes, nodes=names, requested_at=requested, ready_at=done,
                       serving_at=done)  # fmt: skip


def _wait(p: KubernetesPlatform, region: str, names: list[str], health: Health) -> None:
    deadline = p.clock() + p.k8s.start_timeout_s
    waiting = list(names)
    kube = p.clusters.region(region)
    while waiting:
        waiting = [n for n in waiting if pod_health(kube.get(f"{collection('Pod', p.k8s.namespace)}/{meta.node_pod(p.name, n)}")) is not health]
        if waiting and p.clock() > deadline:
            raise StartupError(f"nodes {', '.join(waiting)} not {health.value} after {p.k8s.start_timeout_s:.0f} s")
        if waiting:
            p.sleep(p.poll_s)


def live(p: KubernetesPlatform, region: str) -> tuple[int, int]:
    """The StatefulSet's replicas and ready replicas now (a HorizontalPodAutoscaler's doing, too)."""
    sts = p.clusters.region(region).get(f"{collection('StatefulSet', p.k8s.namespace)}/{meta.statefulset_name(p.name, region)}") or {}
    return int((sts.get("spec") or {}).get("replicas") or 0), int((sts.get("status") or {}).get("readyReplicas") or 0)
