"""``up`` and ``down`` on Kubernetes.

``up``: record the run, make sure the namespace is drillkit's (or an existing one the spec
says to use), server-side apply every region's objects in its own context and the gateway
in its context, then wait until every StatefulSet has its replicas ready and the gateway
is available. Applying is idempotent: a second ``up`` sends the same requests and changes
nothing. A failed ``up`` leaves the objects for inspection (``kubectl describe``); ``down``
removes them.

``down``: in every context, list each kind by label selector (the environment, and the run
when one is recorded) and delete exactly the objects listed, then the namespace if drillkit
created it. Nothing unlabelled is ever deleted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drillkit.errors import SpecError, StartupError
from drillkit.gateway import Served
from drillkit.model.repository import verify
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import KubeClient, collection, object_path
from drillkit.platforms.k8s.render_gateway import gateway_manifests
from drillkit.platforms.k8s.render_region import namespace_manifest, region_manifests
from drillkit.platforms.k8s.run import load_run, new_run, save_run
from drillkit.spec import model_cache
from drillkit.workload.golden import recorded_or_builtin

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform

# Deleted in this order: controllers before what they use; fault objects last.
DOWN_KINDS = ("Job", "Deployment", "StatefulSet", "Pod", "PodDisruptionBudget", "Service", "ConfigMap",
              "ServiceMonitor", "NetworkPolicy", "NetworkChaos")  # fmt: skip


def up(p: KubernetesPlatform) -> None:
    """Apply everything and wait until it serves (see the module docstring)."""
    record = load_run(p.run_path) or new_run(p.name, now=time.time())
    save_run(p.run_path, record)  # before any cluster is touched: `down` must find what this run creates
    served = served_by(local_version(p))
    for context in p.k8s.contexts():
        _namespace(p, p.clusters.context(context), record.run)
    for region in p.spec.regions:
        kube = p.clusters.region(region.name)
        for doc in region_manifests(p.spec, record.run, region.name):
            kube.apply(doc)
    apply_gateway(p, record.run, served)
    wait_ready(p)


def apply_gateway(p: KubernetesPlatform, run: str, served: Served) -> None:
    """Apply the deployed gateway (none when the environment names an existing one); a changed
    configuration rolls its pod (the template carries the configuration's sha256)."""
    if p.k8s.gateway.deploy is not None:
        kube = p.clusters.context(p.k8s.gateway.deploy.context)
        for doc in gateway_manifests(p.spec, run, served):
            kube.apply(doc)


def _namespace(p: KubernetesPlatform, kube: KubeClient, run: str) -> None:
    ns = p.k8s.namespace
    found = kube.get(collection("Namespace") + f"/{ns}")
    ours = found is not None and _labelled(found, meta.environment_labels(p.name))
    if not p.k8s.create_namespace:
        if found is None:
            raise SpecError(p.spec_file or "environment", "kubernetes.namespace", f"namespace {ns!r} does not exist in {kube.context}",
                            "create it, or set kubernetes.create_namespace: true")  # fmt: skip
        return
    if found is not None and not ours:
        raise SpecError(p.spec_file or "environment", "kubernetes.namespace",
                        f"namespace {ns!r} exists in {kube.context} and drillkit did not create it for {p.name!r}",
                        "set kubernetes.create_namespace: false to deploy into it (it is then never deleted)")  # fmt: skip
    kube.apply(namespace_manifest(p.spec, run))


def wait_ready(p: KubernetesPlatform) -> None:
    """Until every StatefulSet has its replicas ready and the gateway is available (StartupError)."""
    deadline = p.clock() + p.k8s.start_timeout_s
    while True:
        waiting = _not_ready(p)
        if not waiting:
            return
        if p.clock() > deadline:
            raise StartupError(f"not ready after {p.k8s.start_timeout_s:.0f} s: {'; '.join(waiting)}. "
                               "The objects are left for inspection (kubectl describe); `drillkit down` removes them.")  # fmt: skip
        p.sleep(p.poll_s)


def _not_ready(p: KubernetesPlatform) -> list[str]:
    waiting = []
    for region in p.spec.regions:
        kube = p.clusters.region(region.name)
        sts = kube.get(collection("StatefulSet", p.k8s.namespace) + f"/{meta.statefulset_name(p.name, region.name)}") or {}
        ready = (sts.get("status") or {}).get("readyReplicas") or 0
        if ready < region.nodes:
            waiting.append(f"region {region.name}: {ready}/{region.nodes} pods ready{_why(p, kube, region.name)}")
    deploy = p.k8s.gateway.deploy
    if deploy is not None:
        kube = p.clusters.context(deploy.context)
        gateway = kube.get(collection("Deployment", p.k8s.namespace) + f"/{meta.gateway_name(p.name)}") or {}
        if not (gateway.get("status") or {}).get("availableReplicas"):
            waiting.append(f"gateway in {deploy.context}: not available")
    return waiting


def _why(p: KubernetesPlatform, kube: KubeClient, region: str) -> str:
    """The first reason a pod of the region is not ready (unschedulable, image pull, crash...)."""
    for pod in kube.list("Pod", p.k8s.namespace, meta.selector(meta.node_labels(p.name, region))):
        status = pod.get("status") or {}
        for waiting in (c.get("state", {}).get("waiting") for c in status.get("containerStatuses") or []):
            if waiting:
                return f" ({pod['metadata']['name']}: {waiting.get('reason')} {waiting.get('message', '')})".rstrip()
        for condition in status.get("conditions") or []:
            if condition.get("status") == "False" and condition.get("message"):
                return f" ({pod['metadata']['name']}: {condition['message']})"
    return ""


def local_version(p: KubernetesPlatform, *, fetch: bool = True) -> Path | None:
    """The served version in the local model cache: drills judge answers by its golden answers
    and the gateway checks its models. Fetched from object storage with its golden.json (only
    what the cache lacks; ``fetch=False``: the cache alone), or your repository's snapshot; None
    for the built-in recommender on a PVC only pods see."""
    from drillkit.platforms.provision import ensure_version

    source, cache = p.k8s.model_repository.url, model_cache(p.spec)
    if source is not None and fetch:
        from drillkit.model.fetch import fetch_version

        return fetch_version(source, p.spec.model.version, cache, golden=True)
    if not p.spec.workload.is_builtin:
        return ensure_version(p.spec, cache, source=p.spec_file or "")
    return cache / p.spec.model.version if (cache / p.spec.model.version).is_dir() else None


def served_by(version_dir: Path | None) -> Served:
    """What the gateway checks: the version's models, and its first golden probe once recorded."""
    if version_dir is None:
        return Served()
    manifest = verify(version_dir)
    return Served.of(manifest.models, recorded_or_builtin(version_dir, manifest))


def down(p: KubernetesPlatform) -> list[str]:
    """Delete every labelled object of the environment in every context; return what was deleted."""
    record = load_run(p.run_path)
    match = meta.environment_labels(p.name) | ({meta.RUN: record.run} if record else {})
    deleted: list[str] = []
    for context in p.k8s.contexts():
        kube = p.clusters.context(context)
        for kind in _kinds(p):
            wanted = match | ({meta.COMPONENT: "hog"} if kind == "Pod" else {})  # Triton pods go with their StatefulSet
            deleted += _delete_listed(kube, kind, p.k8s.namespace, wanted)
        deleted += _delete_namespace(p, kube)
    p.run_path.unlink(missing_ok=True)
    return deleted


def _kinds(p: KubernetesPlatform) -> list[str]:
    optional = {"ServiceMonitor": p.k8s.service_monitor, "NetworkChaos": p.k8s.chaos_mesh}
    return [k for k in DOWN_KINDS if optional.get(k, True)]


def _delete_listed(kube: KubeClient, kind: str, namespace: str, match: dict[str, str]) -> list[str]:
    deleted = []
    for obj in kube.list(kind, namespace, meta.selector(match)):
        if not _labelled(obj, match) or obj["metadata"].get("deletionTimestamp"):  # never trust a selector alone
            continue
        if kube.delete(object_path(obj | {"kind": kind}), {"propagationPolicy": "Background"}):
            deleted.append(f"{kube.context}/{kind}/{obj['metadata']['name']}")
    return deleted


def _delete_namespace(p: KubernetesPlatform, kube: KubeClient) -> list[str]:
    if not p.k8s.create_namespace:
        return []
    path = collection("Namespace") + f"/{p.k8s.namespace}"
    found = kube.get(path)
    if found is None or not _labelled(found, meta.environment_labels(p.name)) or found["metadata"].get("deletionTimestamp"):
        return []  # not drillkit's, or already being deleted (a second DELETE is a conflict)
    kube.delete(path, {"propagationPolicy": "Background"})
    return [f"{kube.context}/Namespace/{p.k8s.namespace}"]


def _labelled(obj: dict[str, Any], match: dict[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in match.items())
