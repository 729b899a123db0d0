"""Every manifest drillkit renders for Kubernetes, validated against the real schemas.

Built-in kinds go through ``kubernetes-validate`` (offline, bundled OpenAPI schemas, strict:
an unknown field is an error) for the oldest and newest Kubernetes drillkit supports. The two
custom resources (ServiceMonitor, NetworkChaos) have no schema there, so they are checked
against the parts of their CRDs' OpenAPI schemas that drillkit uses, written out below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from drillkit.errors import SpecError
from drillkit.model import node as triton_node
from drillkit.netfault.faults import Fault
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.render_faults import (
    hog_pod,
    network_chaos,
    partition_policy,
)
from drillkit.platforms.k8s.render_gateway import gateway_manifests, haproxy_config
from drillkit.platforms.k8s.render_region import (
    namespace_manifest,
    node_args,
    region_manifests,
)
from tests.fakes.kube_env import kube_environment

VERSIONS = ("1.29", "1.37")  # the oldest and newest Kubernetes drillkit is checked against
RUN = "k8s-20260101000000"

_RELABEL = {"type": "object", "additionalProperties": False, "properties": {
    "action": {"enum": ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep"]},
    "sourceLabels": {"type": "array", "items": {"type": "string"}}, "targetLabel": {"type": "string"},
    "regex": {"type": "string"}, "replacement": {"type": "string"}, "separator": {"type": "string"}}}
SERVICE_MONITOR = {  # monitoring.coreos.com/v1 ServiceMonitor (Prometheus Operator CRD), the fields used
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"spec": {"type": "object", "additionalProperties": False, "required": ["selector", "endpoints"], "properties": {
        "selector": {"type": "object", "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "endpoints": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False, "properties": {
            "port": {"type": "string"}, "interval": {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
            "path": {"type": "string"}, "relabelings": {"type": "array", "items": _RELABEL}}}}}}}}
NETWORK_CHAOS = {  # chaos-mesh.org/v1alpha1 NetworkChaos (Chaos Mesh CRD), the fields used
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"spec": {"type": "object", "additionalProperties": False, "required": ["action", "mode", "selector"], "properties": {
        "action": {"enum": ["netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth"]},
        "mode": {"enum": ["one", "all", "fixed", "fixed-percent", "random-max-percent"]},
        "direction": {"enum": ["to", "from", "both"]},
        "selector": {"type": "object", "additionalProperties": False, "properties": {
            "namespaces": {"type": "array", "items": {"type": "string"}},
            "labelSelectors": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "delay": {"type": "object", "additionalProperties": False, "required": ["latency"], "properties": {
            "latency": {"type": "string", "pattern": "^[0-9.]+(ns|us|ms|s|m|h)$"}, "jitter": {"type": "string", "pattern": "^[0-9.]+(ns|us|ms|s|m|h)$"},
            "correlation": {"type": "string"}}},
        "bandwidth": {"type": "object", "additionalProperties": False, "required": ["rate", "limit", "buffer"], "properties": {
            "rate": {"type": "string", "pattern": "^[0-9.]+(bps|kbps|mbps|gbps|tbps)$"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 4294967295},
            "buffer": {"type": "integer", "minimum": 1, "maximum": 4294967295}}}}}}}  # fmt: skip
CRDS = {"ServiceMonitor": SERVICE_MONITOR, "NetworkChaos": NETWORK_CHAOS}


def validate(doc: dict[str, Any]) -> None:
    """Raise unless ``doc`` is valid for every supported Kubernetes version (or its CRD)."""
    if doc["kind"] in CRDS:
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):  # the tool has none: hence our own
            kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        jsonschema.validate(doc, CRDS[doc["kind"]])
    else:
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    labels = doc["metadata"]["labels"]
    assert labels[meta.MANAGED_BY] == "drillkit" and labels[meta.RUN] == RUN and labels[meta.ENVIRONMENT] == "k8s"


def every_manifest(tmp_path: Path, **overrides: Any) -> list[dict[str, Any]]:
    spec = kube_environment(tmp_path, service_monitor=True, chaos_mesh=True, **overrides)
    docs = [namespace_manifest(spec, RUN), *region_manifests(spec, RUN, "primary"), *region_manifests(spec, RUN, "standby"),
            *gateway_manifests(spec, RUN), partition_policy(spec, RUN, "primary-0"),
            *network_chaos(spec, RUN, "primary-1", Fault(latency_ms=150, jitter_ms=20)),
            *network_chaos(spec, RUN, "primary-1", Fault(bandwidth_kbps=512)),
            hog_pod(spec, RUN, handle="hog-memory-primary-0", node="primary-0", host="gpu-a-1", kind="memory", level=0.5, duration_s=60)]  # fmt: skip
    return docs


def test_every_manifest_validates_against_the_kubernetes_schemas(tmp_path: Path) -> None:
    docs = every_manifest(tmp_path)
    assert sorted({d["kind"] for d in docs}) == ["ConfigMap", "Deployment", "Namespace", "NetworkChaos", "NetworkPolicy",
                                                  "Pod", "PodDisruptionBudget", "Service", "ServiceMonitor", "StatefulSet"]  # fmt: skip
    for doc in docs:
        validate(doc)


def test_the_pvc_variant_and_a_cpu_only_cluster_validate_too(tmp_path: Path) -> None:
    docs = every_manifest(tmp_path, model_repository={"pvc": "models"}, gpu={"count": 0})
    for doc in docs:
        validate(doc)
    pod = docs[1]["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert pod["volumes"][0] == {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]


def test_the_validator_catches_a_broken_manifest(tmp_path: Path) -> None:
    sts = every_manifest(tmp_path)[1]
    sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(sts)
    chaos = network_chaos(kube_environment(tmp_path, chaos_mesh=True), RUN, "primary-0", Fault(latency_ms=5))[0]
    chaos["spec"]["mode"] = "everything"
    with pytest.raises(jsonschema.ValidationError):
        validate(chaos)


def test_a_region_is_a_statefulset_of_gpu_triton_pods_ready_on_the_model(tmp_path: Path) -> None:
    spec = kube_environment(tmp_path)
    sts, pods, service, pdb = region_manifests(spec, RUN, "primary")
    assert (sts["metadata"]["name"], sts["spec"]["replicas"], sts["spec"]["podManagementPolicy"]) == ("k8s-primary", 2, "Parallel")
    pod = sts["spec"]["template"]["spec"]
    triton = pod["containers"][0]
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/models/recommend/ready", "port": "http"}
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    fetch = pod["initContainers"][0]
    assert fetch["command"] == ["python", "-m", "drillkit.model.fetch"]
    assert fetch["args"] == ["--source", "s3://models/recsys", "--version", "v1", "--dest", "/models"]
    assert fetch["envFrom"] == [{"secretRef": {"name": "model-store"}}]
    assert set(sts["spec"]["selector"]["matchLabels"].items()) <= set(sts["spec"]["template"]["metadata"]["labels"].items())
    assert meta.RUN not in sts["spec"]["selector"]["matchLabels"]  # a selector is immutable: no run id in it
    assert service["spec"] == {"type": "NodePort", "selector": sts["spec"]["selector"]["matchLabels"],
                               "ports": [{"name": "http", "port": 8000, "targetPort": "http", "nodePort": 30800}]}  # fmt: skip
    assert pods["spec"]["clusterIP"] == "None" and pdb["spec"]["maxUnavailable"] == 1


def test_the_model_server_arguments_are_the_node_entry_points(tmp_path: Path) -> None:
    args = node_args(kube_environment(tmp_path), "standby")
    assert args[:2] == ["-m", "drillkit.model.node"] and args[-2:] == ["--address", "0.0.0.0"]
    parsed = triton_node._parser().parse_args(args[2:])  # every argument, --address included, is the node's
    assert (parsed.region, parsed.version, parsed.http_port, parsed.metrics_port) == ("standby", "v1", 8000, 8002)
    assert parsed.address == "0.0.0.0"
    assert str(parsed.repository) == "/models" and parsed.node == "$(POD_NAME)"


def test_the_gateway_config_is_the_local_one_pointed_at_the_regions(tmp_path: Path) -> None:
    spec = kube_environment(tmp_path)
    config, region_map = haproxy_config(spec)
    assert "    bind :8080\n" in config and "    bind :8404\n" in config and "127.0.0.1" not in config
    assert "    server primary 172.18.0.2:30800 check\n" in config
    assert "    server standby 172.18.0.3:30801 check backup\n" in config
    assert "http-check send meth GET uri /v2/models/search/ready" in config
    assert region_map == "primary primary\nstandby standby\n"
    cm, deployment, service, stats = gateway_manifests(spec, RUN)
    assert cm["data"]["haproxy.cfg"] == config
    annotation = deployment["spec"]["template"]["metadata"]["annotations"]["drillkit.io/config-sha256"]
    changed = kube_environment(tmp_path, clusters=[
        {"region": "primary", "context": "kind-drill-a", "address": "10.0.0.1:30800"},
        {"region": "standby", "context": "kind-drill-b", "address": "10.0.0.2:30800"}])  # fmt: skip
    assert gateway_manifests(changed, RUN)[1]["spec"]["template"]["metadata"]["annotations"]["drillkit.io/config-sha256"] != annotation
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "nodePort": 30080}]
    assert stats["spec"]["type"] == "ClusterIP"


def test_fault_objects_target_one_node_by_its_pod_name(tmp_path: Path) -> None:
    spec = kube_environment(tmp_path, chaos_mesh=True)
    policy = partition_policy(spec, RUN, "standby-1")
    assert policy["spec"] == {"podSelector": {"matchLabels": {meta.POD_NAME: "k8s-standby-1"}}, "policyTypes": ["Ingress", "Egress"]}
    delay, bandwidth = network_chaos(spec, RUN, "primary-0", Fault(latency_ms=150, jitter_ms=20, bandwidth_kbps=64))
    assert delay["spec"]["delay"] == {"latency": "150ms", "jitter": "20ms", "correlation": "0"}
    assert bandwidth["spec"]["bandwidth"]["rate"] == "64kbps"
    hog = hog_pod(spec, RUN, handle="hog-compute-primary-0", node="primary-0", host="gpu-a-1", kind="compute", level=1.0, duration_s=90)
    assert hog["spec"]["nodeName"] == "gpu-a-1" and hog["spec"]["activeDeadlineSeconds"] == 150
    assert hog["spec"]["containers"][0]["args"] == ["--kind", "compute", "--level", "1", "--device", "auto", "--duration", "90"]
    assert hog["spec"]["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": "1"}}


def test_network_faults_kubernetes_cannot_make_are_refused_with_the_fix(tmp_path: Path) -> None:
    plain = kube_environment(tmp_path)
    with pytest.raises(SpecError, match="set kubernetes.chaos_mesh: true"):
        network_chaos(plain, RUN, "primary-0", Fault(latency_ms=100))
    with pytest.raises(SpecError, match="connection resets cannot be made"):
        network_chaos(kube_environment(tmp_path, chaos_mesh=True), RUN, "primary-0", Fault(reset_ratio=0.5))
