"""A region's manifests, as pure functions of the environment spec and the run id.

Per region: a StatefulSet of Triton pods (stable names: node ``primary-0`` is pod
``<env>-primary-0``, and a crashed pod comes back under its name), a headless Service for the
pods' metrics, the region's Service that the gateway reaches, a PodDisruptionBudget, and
optionally a ServiceMonitor. A StatefulSet rather than a Deployment because drills name
nodes, and a partition or a GPU fault aimed at ``primary-0`` must follow that node's
replacement; with ``podManagementPolicy: Parallel`` it starts and replaces pods as fast as a
Deployment does.

>>> docs = region_manifests(spec, "k8s-20260101000000", "primary")   # doctest: +SKIP
>>> [d["kind"] for d in docs]                                          # doctest: +SKIP
['StatefulSet', 'Service', 'Service', 'PodDisruptionBudget']
"""

from __future__ import annotations

from typing import Any

from drillkit.platforms.k8s import meta
from drillkit.spec import EnvironmentSpec, KubernetesSpec, RegionSpec
from drillkit.workload.repository import REPOSITORY

Manifest = dict[str, Any]
MODELS = "/models"
WORKSPACE = "/workspace"


def namespace_manifest(spec: EnvironmentSpec, run: str) -> Manifest:
    k = _k8s(spec)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta.metadata(k.namespace, None, meta.labels(spec.name, run, "namespace"))}


def region_manifests(spec: EnvironmentSpec, run: str, region: str) -> list[Manifest]:
    """Everything one region's cluster runs, in apply order."""
    r = next(x for x in spec.regions if x.name == region)
    docs = [statefulset(spec, run, r), pods_service(spec, run, region), region_service(spec, run, region), disruption_budget(spec, run, region)]
    if _k8s(spec).service_monitor:
        docs.append(service_monitor(spec, run, region))
    return docs


def statefulset(spec: EnvironmentSpec, run: str, region: RegionSpec, *, version: str | None = None, partition: int = 0) -> Manifest:
    """The region's StatefulSet. A rollout renders it with another model ``version`` and a
    ``partition``: the controller moves the pods of that ordinal and above (highest first, one
    at a time, each replaced when the one before is ready), and leaves the ones below."""
    k = _k8s(spec)
    if version is not None:
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"version": version})})
    name = meta.statefulset_name(spec.name, region.name)
    pod_labels = {**meta.node_labels(spec.name, region.name), **meta.labels(spec.name, run, "inference"),
                  meta.MODEL_VERSION: spec.model.version}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta.metadata(name, k.namespace, meta.labels(spec.name, run, "inference", **{meta.REGION: region.name})),
        "spec": {
            "replicas": region.nodes,
            "serviceName": meta.pods_service(spec.name, region.name),
            "podManagementPolicy": "Parallel",  # replace crashed pods at once, not one by one
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
            "selector": {"matchLabels": meta.node_labels(spec.name, region.name)},
            "template": {"metadata": {"labels": pod_labels}, "spec": _pod_spec(spec, k, region.name)},
        },
    }


def _pod_spec(spec: EnvironmentSpec, k: KubernetesSpec, region: str) -> Manifest:
    builtin = spec.workload.is_builtin
    pod: Manifest = {
        "terminationGracePeriodSeconds": 30,
        "containers": [_triton_container(spec, k, region) if builtin else _user_triton_container(spec, k)],
        "volumes": _volumes(k),
    }
    if k.model_repository.url:
        pod["initContainers"] = [_fetch_container(spec, k)]
    elif not builtin:  # the user's Triton image cannot check a manifest: drillkit's image does, first
        pod["initContainers"] = [_verify_container(spec, k)]
    if k.gpu.node_selector:
        pod["nodeSelector"] = dict(k.gpu.node_selector)
    if k.gpu.tolerations:
        pod["tolerations"] = [t.model_dump(exclude_none=True) for t in k.gpu.tolerations]
    if k.images.pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in k.images.pull_secrets]
    return pod


def node_args(spec: EnvironmentSpec, region: str) -> list[str]:
    """The model server's arguments (``python -m drillkit.model.node``), listening on the pod's IP.

    Written out rather than taken from ``node_command``: importing the node module loads torch,
    seconds that every `drillkit up` would pay. A test parses them with the node's own parser.
    """
    m = spec.model
    return [
        "-m", "drillkit.model.node", "--repository", MODELS, "--version", m.version, "--region", region,
        "--node", "$(POD_NAME)", "--http-port", str(meta.HTTP_PORT), "--grpc-port", str(meta.GRPC_PORT),
        "--metrics-port", str(meta.METRICS_PORT), "--device", m.device, "--max-batch-size", str(m.max_batch_size),
        "--max-queue-delay-us", str(m.max_queue_delay_us), "--workspace", f"{WORKSPACE}/triton",
        "--address", "0.0.0.0",  # kubelet probes and the Service reach the pod's IP
    ]  # fmt: skip


def _triton_container(spec: EnvironmentSpec, k: KubernetesSpec, region: str) -> Manifest:
    """drillkit's node (PyTriton on the built-in recommender), ready when ``recommend`` is."""
    return {
        "name": "triton",
        "image": k.images.drillkit,
        "imagePullPolicy": k.images.pull_policy,
        "command": ["python"],
        "args": node_args(spec, region),
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "PYTHONUNBUFFERED", "value": "1"}],
        **_server(k),
        # Ready means the model answers: the gateway and the Service only send it traffic then.
        "readinessProbe": _http_probe("/v2/models/recommend/ready", period_s=2, failures=2),
    }  # fmt: skip


def _user_triton_container(spec: EnvironmentSpec, k: KubernetesSpec) -> Manifest:
    """Your Triton image serving your repository, ready when every model is."""
    assert spec.workload.image is not None, "validated: a repository on Kubernetes has an image"
    return {
        "name": "triton",
        "image": spec.workload.image,
        "imagePullPolicy": k.images.pull_policy,
        "command": ["tritonserver"],
        "args": triton_args(spec),
        **_server(k),
        "readinessProbe": _http_probe("/v2/health/ready", period_s=2, failures=2),
    }


def _server(k: KubernetesSpec) -> Manifest:
    """What every Triton container shares: ports, limits, liveness, the model volume read-only."""
    limits = {"cpu": k.resources.cpu, "memory": k.resources.memory}
    if k.gpu.count:
        limits[k.gpu.resource] = str(k.gpu.count)  # extended resources: requests default to limits
    return {
        "ports": [{"name": "http", "containerPort": meta.HTTP_PORT}, {"name": "grpc", "containerPort": meta.GRPC_PORT},
                  {"name": "metrics", "containerPort": meta.METRICS_PORT}],
        "resources": {"requests": {"cpu": k.resources.cpu, "memory": k.resources.memory}, "limits": limits},
        "startupProbe": _http_probe("/v2/health/live", period_s=5, failures=120),  # model load: up to 10 min
        "livenessProbe": _http_probe("/v2/health/live", period_s=10, failures=3),
        "volumeMounts": [{"name": "models", "mountPath": MODELS, "readOnly": True},
                         {"name": "workspace", "mountPath": WORKSPACE}, {"name": "dshm", "mountPath": "/dev/shm"}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }  # fmt: skip


def triton_args(spec: EnvironmentSpec) -> list[str]:
    """``tritonserver``'s arguments in the user's image: the version's snapshot of their repository,
    ready only when every model is (strict readiness), exiting on a model that fails to load."""
    return [
        f"--model-repository={MODELS}/{spec.model.version}/{REPOSITORY}", "--strict-readiness=true",
        "--exit-on-error=true", f"--http-port={meta.HTTP_PORT}", f"--grpc-port={meta.GRPC_PORT}",
        "--allow-metrics=true", f"--metrics-port={meta.METRICS_PORT}", f"--allow-gpu-metrics={str(_k8s(spec).gpu.count > 0).lower()}",
    ]  # fmt: skip


def _verify_container(spec: EnvironmentSpec, k: KubernetesSpec) -> Manifest:
    """A version on the PVC is checked against its manifest before Triton may serve it."""
    return {
        "name": "verify-model",
        "image": k.images.drillkit,
        "imagePullPolicy": k.images.pull_policy,
        "command": ["python", "-m", "drillkit", "model", "verify"],
        "args": [f"{MODELS}/{spec.model.version}"],
        "volumeMounts": [{"name": "models", "mountPath": MODELS, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def _fetch_container(spec: EnvironmentSpec, k: KubernetesSpec) -> Manifest:
    container: Manifest = {
        "name": "fetch-model",
        "image": k.images.drillkit,
        "imagePullPolicy": k.images.pull_policy,
        # Downloads <url>/<version>/ and checks every file's sha256 against manifest.json first.
        "command": ["python", "-m", "drillkit.model.fetch"],
        "args": ["--source", str(k.model_repository.url), "--version", spec.model.version, "--dest", MODELS],
        "volumeMounts": [{"name": "models", "mountPath": MODELS}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if k.model_repository.secret:
        container["envFrom"] = [{"secretRef": {"name": k.model_repository.secret}}]
    return container


def _volumes(k: KubernetesSpec) -> list[Manifest]:
    source = k.model_repository
    models = {"persistentVolumeClaim": {"claimName": source.pvc, "readOnly": True}} if source.pvc else {"emptyDir": {}}
    return [
        {"name": "models", **models},
        {"name": "workspace", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": k.resources.shm}},
    ]


def _http_probe(path: str, *, period_s: int, failures: int) -> Manifest:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period_s, "failureThreshold": failures, "timeoutSeconds": 2}


def pods_service(spec: EnvironmentSpec, run: str, region: str) -> Manifest:
    k = _k8s(spec)
    ports = [{"name": n, "port": p, "targetPort": n} for n, p in (("http", meta.HTTP_PORT), ("grpc", meta.GRPC_PORT), ("metrics", meta.METRICS_PORT))]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(meta.pods_service(spec.name, region), k.namespace,
                                  meta.labels(spec.name, run, "inference-pods", **{meta.REGION: region})),
        "spec": {"clusterIP": "None", "selector": meta.node_labels(spec.name, region), "ports": ports},
    }


def region_service(spec: EnvironmentSpec, run: str, region: str) -> Manifest:
    """The region's entry point for the gateway: only ready pods are its endpoints."""
    k = _k8s(spec)
    cluster = k.cluster(region)
    port: Manifest = {"name": "http", "port": meta.HTTP_PORT, "targetPort": "http"}
    if cluster.node_port is not None and cluster.service_type != "ClusterIP":
        port["nodePort"] = cluster.node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(meta.statefulset_name(spec.name, region), k.namespace,
                                  meta.labels(spec.name, run, "inference", **{meta.REGION: region})),
        "spec": {"type": cluster.service_type, "selector": meta.node_labels(spec.name, region), "ports": [port]},
    }


def disruption_budget(spec: EnvironmentSpec, run: str, region: str) -> Manifest:
    """Voluntary disruptions (drains, upgrades) take one Triton pod of a region at a time."""
    k = _k8s(spec)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(meta.statefulset_name(spec.name, region), k.namespace,
                                  meta.labels(spec.name, run, "inference", **{meta.REGION: region})),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": meta.node_labels(spec.name, region)}},
    }


def service_monitor(spec: EnvironmentSpec, run: str, region: str) -> Manifest:
    """Prometheus Operator: scrape every Triton pod's metrics each second, labelled with its region."""
    k = _k8s(spec)
    interval = f"{spec.prometheus.scrape_interval_s:g}s"
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta.metadata(meta.statefulset_name(spec.name, region), k.namespace,
                                  meta.labels(spec.name, run, "inference", **{meta.REGION: region})),
        "spec": {
            "selector": {"matchLabels": {meta.ENVIRONMENT: spec.name, meta.REGION: region, meta.COMPONENT: "inference-pods"}},
            "endpoints": [{"port": "metrics", "interval": interval, "path": "/metrics", "relabelings": [
                # the same `region` and `node` labels as the embedded Prometheus gives nodes
                {"action": "replace", "targetLabel": "region", "replacement": region},
                {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "node",
                 "regex": f"{spec.name}-(.*)", "replacement": "$1"},
            ]}],
        },
    }


def _k8s(spec: EnvironmentSpec) -> KubernetesSpec:
    assert spec.kubernetes is not None, "a kubernetes environment"
    return spec.kubernetes
