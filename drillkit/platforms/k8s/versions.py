"""Model versions on Kubernetes: a rolling change of each region's StatefulSet.

A node moves onto a version by re-applying its region's StatefulSet with that version in the
pod template and the node's ordinal as the rolling update's ``partition``: the controller
replaces the pods of that ordinal and above, highest first, one at a time, each only after
the one before is ready, so a region never loses more than one pod to the rollout, which is
what its PodDisruptionBudget allows for voluntary disruptions. Rollouts go highest ordinal
first (``order``), so each step replaces exactly one pod; moving a node *back* moves the
higher ones with it, which a rollback (lowest first) wants anyway. The old pod is drained
the Kubernetes way: it leaves the Service's endpoints when it starts terminating, and has
its grace period to finish what it serves.

The pod carries its version as a label (``drillkit.io/model-version``); the step ends when
the node's pod has the version, is Ready, and (through a ``kubectl proxy``) answered that
version's golden probes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from drillkit.backup.golden import node_serves
from drillkit.errors import StartupError
from drillkit.platforms.base import Health, NodeSwitch
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.render_region import statefulset
from drillkit.platforms.k8s.status import pod_health
from drillkit.spec import model_cache

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform


def order(p: KubernetesPlatform) -> list[str]:
    """The primary region first, each region's highest ordinal first (the controller's order)."""
    regions = [p.spec.primary, *p.spec.standbys]
    return [n for r in regions for n in reversed(p.node_names(r.name))]


def publish(p: KubernetesPlatform, version: str) -> list[str]:
    """A version in object storage is fetched and verified (with its golden answers) into the
    local cache, as every pod's init container will; on a PVC only pods see it, and each pod
    verifies it before it serves (a missing or damaged version fails the node's step)."""
    source = p.k8s.model_repository.url
    if source is None:
        return []
    from drillkit.model.fetch import fetch_version

    fetch_version(source, version, model_cache(p.spec), golden=True)
    return [r.name for r in p.spec.regions]


def switch(p: KubernetesPlatform, node: str, version: str) -> NodeSwitch:
    """Move ``node`` onto ``version`` (see the module docstring); StartupError when its pod
    is not ready on it in ``start_timeout_s``."""
    region = next(r for r in p.spec.regions if r.name == p.region_of(node))
    ordinal = int(node.rsplit("-", 1)[1])
    kube = p.clusters.region(region.name)
    kube.apply(statefulset(p.spec, p.run().run, region, version=version, partition=ordinal))
    path = f"{collection('Pod', p.k8s.namespace)}/{meta.node_pod(p.name, node)}"
    drained = started = None
    deadline = p.clock() + p.k8s.start_timeout_s
    while True:
        pod = kube.get(path)
        on_version = _version(pod) == version
        if drained is None and (pod is None or on_version or pod_health(pod) is not Health.READY):
            drained = time.time()  # the old pod left the Service (or was already replaced)
        if started is None and on_version:
            started = time.time()
        if on_version and pod_health(pod) is Health.READY:
            break
        if p.clock() > deadline:
            raise StartupError(f"{node} not ready on {version} after {p.k8s.start_timeout_s:.0f} s (kubectl describe pod "
                               f"{meta.node_pod(p.name, node)} -n {p.k8s.namespace})")  # fmt: skip
        p.sleep(p.poll_s)
    serving = time.time()
    return NodeSwitch(node, version, drained or serving, started or serving, _verified(p, node, version), serving)


def _version(pod: dict[str, Any] | None) -> str | None:
    return ((pod or {}).get("metadata", {}).get("labels") or {}).get(meta.MODEL_VERSION)


def _verified(p: KubernetesPlatform, node: str, version: str) -> float | None:
    """When the node answered the version's golden probes (None: no proxy to reach it, or no
    golden answers for the version yet)."""
    endpoint = next((n.endpoint for n in p.status().nodes() if n.name == node), None)
    version_dir = model_cache(p.spec) / version
    if endpoint is None or not version_dir.is_dir():
        return None
    return node_serves(version_dir, endpoint, node)
