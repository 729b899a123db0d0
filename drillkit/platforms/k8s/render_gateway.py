"""The drillkit-deployed gateway on Kubernetes: HAProxy in one chosen context.

The configuration is ``drillkit.gateway.render_config`` (the same checks, retries and
headers as on the local platform), with one server per region pointing at the address the
spec gives for the region's Service, listening on every address of the pod. It lives in a
ConfigMap; the pod template carries the configuration's sha256, so a changed configuration
rolls the gateway. The stats frontend (``/stats;csv``, ``/metrics``) has its own ClusterIP
Service: drillkit reads the servers' states through the API server's service proxy.

>>> [d["kind"] for d in gateway_manifests(spec, "k8s-20260101000000")]   # doctest: +SKIP
['ConfigMap', 'Deployment', 'Service', 'Service']
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from drillkit.gateway import (
    Backend,
    GatewayPlan,
    Served,
    initial_try_timeouts,
    render_config,
    render_region_map,
    render_script,
    render_try_map,
)
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.render_region import Manifest
from drillkit.spec import EnvironmentSpec, RegionRole

CONFIG_DIR = "/usr/local/etc/haproxy"
SOCKET_DIR = "/var/run/haproxy"


def haproxy_files(spec: EnvironmentSpec, served: Served = Served()) -> dict[str, str]:
    """Every file of the gateway's ConfigMap by name: haproxy.cfg, regions.map, the per-try
    timeouts (the spec's try_timeout_ms, else the server timeout: nothing calibrates an
    in-cluster gateway) and the Lua script (ejection, retry budget)."""
    config, region_map = haproxy_config(spec, served)
    return {"haproxy.cfg": config, "regions.map": region_map,
            TRY_MAP: render_try_map(initial_try_timeouts(spec.gateway, served.models)),
            SCRIPT: render_script(spec.gateway)}  # fmt: skip


TRY_MAP, SCRIPT = "try_timeouts.map", "gateway.lua"


def haproxy_config(spec: EnvironmentSpec, served: Served = Served()) -> tuple[str, str]:
    """(haproxy.cfg, regions.map): one server per region, named after it, checked on ``served``."""
    backends = tuple(Backend(r.name, r.name, _port(spec, r.name), backup=r.role is RegionRole.STANDBY) for r in spec.regions)
    plan = GatewayPlan(bind_port=meta.GATEWAY_PORT, stats_port=meta.STATS_PORT, socket=Path(SOCKET_DIR) / "admin.sock",
                       region_map=Path(CONFIG_DIR) / "regions.map", spec=spec.gateway, backends=backends,
                       try_map=Path(CONFIG_DIR) / TRY_MAP, script=Path(CONFIG_DIR) / SCRIPT, served=served)  # fmt: skip
    config = render_config(plan)
    config = _replace_once(config, f"bind 127.0.0.1:{meta.GATEWAY_PORT}\n", f"bind :{meta.GATEWAY_PORT}\n")
    config = _replace_once(config, f"bind 127.0.0.1:{meta.STATS_PORT}\n", f"bind :{meta.STATS_PORT}\n")
    for b in backends:  # each region's server: in the main backend and in the region's own
        address = _address(spec, b.name)
        config = _replace_once(config, f"server {b.name} 127.0.0.1:{b.port} ", f"server {b.name} {address} ", times=2)
    return config, render_region_map(backends)


def _replace_once(text: str, old: str, new: str, *, times: int = 1) -> str:
    # The local renderer binds to 127.0.0.1; on a pod every address is meant. If its output
    # ever changes shape this fails loudly instead of deploying a gateway that binds nothing.
    if text.count(old) != times:
        raise AssertionError(f"gateway config: expected {times} of {old.strip()!r}")
    return text.replace(old, new)


def _address(spec: EnvironmentSpec, region: str) -> str:
    assert spec.kubernetes is not None
    address = spec.kubernetes.cluster(region).address
    assert address is not None, "validated: a deployed gateway has every region's address"
    return address


def _port(spec: EnvironmentSpec, region: str) -> int:
    return int(_address(spec, region).rsplit(":", 1)[1])


def gateway_manifests(spec: EnvironmentSpec, run: str, served: Served = Served()) -> list[Manifest]:
    """ConfigMap, Deployment and Service of the gateway, in apply order."""
    files = haproxy_files(spec, served)
    digest = hashlib.sha256("".join(files[name] for name in sorted(files)).encode()).hexdigest()[:16]
    return [_config_map(spec, run, files), _deployment(spec, run, digest), _service(spec, run), _stats_service(spec, run)]


def _namespace(spec: EnvironmentSpec) -> str:
    assert spec.kubernetes is not None
    return spec.kubernetes.namespace


def _config_map(spec: EnvironmentSpec, run: str, files: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(meta.gateway_name(spec.name), _namespace(spec), meta.labels(spec.name, run, "gateway")),
        "data": files,
    }


def _deployment(spec: EnvironmentSpec, run: str, digest: str) -> Manifest:
    assert spec.kubernetes is not None
    name = meta.gateway_name(spec.name)
    select = {meta.NAME: "drillkit-gateway", meta.ENVIRONMENT: spec.name}
    images = spec.kubernetes.images
    container = {
        "name": "haproxy",
        "image": images.haproxy,
        "imagePullPolicy": images.pull_policy,
        "command": ["haproxy", "-W", "-db", "-f", f"{CONFIG_DIR}/haproxy.cfg"],
        "ports": [{"name": "http", "containerPort": meta.GATEWAY_PORT}, {"name": "stats", "containerPort": meta.STATS_PORT}],
        "readinessProbe": {"httpGet": {"path": "/metrics", "port": "stats"}, "periodSeconds": 2},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}, {"name": "run", "mountPath": SOCKET_DIR}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod = {"containers": [container], "volumes": [{"name": "config", "configMap": {"name": name}}, {"name": "run", "emptyDir": {}}]}
    if images.pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in images.pull_secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(name, _namespace(spec), meta.labels(spec.name, run, "gateway")),
        "spec": {
            # One HAProxy: drills read the servers' states from it, and two would disagree.
            "replicas": 1,
            "selector": {"matchLabels": select},
            "template": {
                "metadata": {"labels": {**select, **meta.labels(spec.name, run, "gateway")},
                             "annotations": {"drillkit.io/config-sha256": digest}},
                "spec": pod,
            },
        },
    }


def _service(spec: EnvironmentSpec, run: str) -> Manifest:
    assert spec.kubernetes is not None and spec.kubernetes.gateway.deploy is not None
    deploy = spec.kubernetes.gateway.deploy
    http: Manifest = {"name": "http", "port": meta.GATEWAY_PORT, "targetPort": "http"}
    if deploy.node_port is not None and deploy.service_type != "ClusterIP":
        http["nodePort"] = deploy.node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(meta.gateway_name(spec.name), _namespace(spec), meta.labels(spec.name, run, "gateway")),
        "spec": {
            "type": deploy.service_type,
            "selector": {meta.NAME: "drillkit-gateway", meta.ENVIRONMENT: spec.name},
            "ports": [http],
        },
    }


def _stats_service(spec: EnvironmentSpec, run: str) -> Manifest:
    """Stats and metrics stay inside the cluster (ClusterIP); drillkit reads them via the service proxy."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(meta.gateway_stats(spec.name), _namespace(spec), meta.labels(spec.name, run, "gateway")),
        "spec": {
            "type": "ClusterIP",
            "selector": {meta.NAME: "drillkit-gateway", meta.ENVIRONMENT: spec.name},
            "ports": [{"name": "stats", "port": meta.STATS_PORT, "targetPort": "stats"}],
        },
    }
