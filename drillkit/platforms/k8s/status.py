"""Live status of a Kubernetes environment, and the gateway's view of the regions.

A node row is the pod of its StatefulSet ordinal: READY when the pod's Ready condition is
true, STARTING while it runs or is pending without it, DEAD when it is missing, terminating
or finished. With a ``proxy_url`` (a ``kubectl proxy`` of the region's context) a node's
endpoint and metrics are the API server's pod-proxy URLs, which capacity checks and probes
can reach without credentials.

The gateway has one server per region (the region's Service), so ``gateway_states`` gives
every node of a region its region server's state: the gateway cannot see single pods behind
a Service, and a region going DOWN is what it detects.
"""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING, Any

from drillkit.errors import ComponentError
from drillkit.gateway import GatewayCounters, parse_counters, parse_stat
from drillkit.netutil import http_status
from drillkit.platforms.base import (
    ComponentKind,
    ComponentStatus,
    EnvironmentStatus,
    Health,
)
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.run import load_run

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform


def environment_status(p: KubernetesPlatform) -> EnvironmentStatus:
    """Every node and the gateway, live; ``up`` when the run is recorded and every workload exists."""
    record = load_run(p.run_path)
    gateway_url = _gateway_url(p)
    if record is None:
        return EnvironmentStatus(environment=p.name, platform="kubernetes", up=False)
    states = gateway_states(p)
    rows: list[ComponentStatus] = []
    workloads = True
    for region in p.spec.regions:
        region_rows, exists = _region_rows(p, region.name, states)
        rows += region_rows
        workloads = workloads and exists
    gateway = _gateway_row(p, gateway_url)
    return EnvironmentStatus(
        environment=p.name,
        platform="kubernetes",
        up=workloads and gateway.health is not Health.DEAD,
        started_at=record.started_at,
        gateway_url=gateway_url,
        prometheus_url=p.spec.prometheus.url,
        alertmanager_url=p.spec.alertmanager_url,
        model_version=p.spec.model.version,
        components=(*rows, gateway),
    )


def _gateway_url(p: KubernetesPlatform) -> str:
    gateway = p.k8s.gateway
    return gateway.deploy.url if gateway.deploy is not None else gateway.external.url  # type: ignore[union-attr]


def _region_rows(p: KubernetesPlatform, region: str, states: dict[str, str]) -> tuple[list[ComponentStatus], bool]:
    kube = p.clusters.region(region)
    try:
        exists = kube.get(collection("StatefulSet", p.k8s.namespace) + f"/{meta.statefulset_name(p.name, region)}") is not None
        pods = {o["metadata"]["name"]: o for o in kube.list("Pod", p.k8s.namespace, meta.selector(meta.node_labels(p.name, region)))}
    except ComponentError:
        exists, pods = False, {}  # an unreachable cluster: every node of the region is dead to drills
    proxy = p.k8s.cluster(region).proxy_url
    rows = []
    for node in p.node_names(region):
        pod = meta.node_pod(p.name, node)
        api = f"{proxy.rstrip('/')}/api/v1/namespaces/{p.k8s.namespace}/pods/{pod}" if proxy else None
        rows.append(ComponentStatus(
            name=node, kind=ComponentKind.NODE, region=region, health=pod_health(pods.get(pod)),
            endpoint=f"{api}:{meta.HTTP_PORT}/proxy" if api else None,
            metrics_url=f"{api}:{meta.METRICS_PORT}/proxy/metrics" if api else None,
            gateway_state=states.get(node), version=_version(pods.get(pod)) or p.spec.model.version,
        ))  # fmt: skip
    return rows, exists


def _version(pod: dict[str, Any] | None) -> str | None:
    """The model version a pod serves, from its label (None: no pod, or one from before the label)."""
    return ((pod or {}).get("metadata", {}).get("labels") or {}).get(meta.MODEL_VERSION)


def pod_health(pod: dict[str, Any] | None) -> Health:
    """A Triton pod's health from its phase and Ready condition."""
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return Health.DEAD
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        return Health.DEAD
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return Health.READY if ready else Health.STARTING


def _gateway_row(p: KubernetesPlatform, url: str) -> ComponentStatus:
    deploy = p.k8s.gateway.deploy
    if deploy is None:
        healthy = http_status(f"{url}/v2/health/ready", timeout_s=2.0) == 200
        return ComponentStatus(name="gateway", kind=ComponentKind.GATEWAY, health=Health.READY if healthy else Health.STARTING, endpoint=url)
    try:
        found = p.clusters.context(deploy.context).get(collection("Deployment", p.k8s.namespace) + f"/{meta.gateway_name(p.name)}")
    except ComponentError:
        found = None
    available = ((found or {}).get("status") or {}).get("availableReplicas") or 0
    health = Health.DEAD if found is None else (Health.READY if available else Health.STARTING)
    return ComponentStatus(name=meta.gateway_name(p.name), kind=ComponentKind.GATEWAY, health=health, endpoint=url)


def gateway_states(p: KubernetesPlatform) -> dict[str, str]:
    """Each node's state as the gateway sees its region's server ({} when it cannot be read)."""
    try:
        csv = _stats_csv(p)
    except (ComponentError, OSError):
        return {}
    if csv is None:
        return {}
    servers = {s.name: s.status.value for s in parse_stat(csv)}
    return {node: servers[r.name] for r in p.spec.regions if r.name in servers for node in p.node_names(r.name)}


def gateway_counters(p: KubernetesPlatform) -> GatewayCounters | None:
    """The gateway's backend counters (None when they cannot be read)."""
    try:
        csv = _stats_csv(p)
    except (ComponentError, OSError):
        return None
    return parse_counters(csv) if csv is not None else None


def _stats_csv(p: KubernetesPlatform) -> str | None:
    gateway = p.k8s.gateway
    if gateway.deploy is not None:
        path = f"{collection('Service', p.k8s.namespace)}/{meta.gateway_stats(p.name)}:stats/proxy/stats;csv;norefresh"
        return p.clusters.context(gateway.deploy.context).text(path)
    if gateway.external is not None and gateway.external.stats_url:
        with urllib.request.urlopen(gateway.external.stats_url, timeout=2) as response:
            return response.read().decode(errors="replace")
    return None
