"""Run a distributed replay in a cluster and bring its request log home.

Apply the load's objects (``render_load``) in the chosen context, wait until the master
and every worker have ended, read each worker pod's log through the API and unpack its
request log into ``<run dir>/request_log/``, merge the parts (``requests.parquet``, the same
file a local ``drillkit load`` writes), then delete the load's objects by their labels.

>>> path = run_load(platform, job, "kind-drill-a", Path("reports/load-x"))   # doctest: +SKIP
PosixPath('reports/load-x/request_log/requests.parquet')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from drillkit.errors import ComponentError, StartupError
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import KubeClient, collection, object_path
from drillkit.platforms.k8s.render_load import (
    LOAD,
    ROLE,
    LoadJob,
    load_manifests,
    name_of,
)
from drillkit.platforms.k8s.results import extract
from drillkit.request_log import compact

if TYPE_CHECKING:
    from drillkit.platforms.kubernetes import KubernetesPlatform

_KINDS = ("Job", "Service", "ConfigMap")


def in_cluster_gateway(p: KubernetesPlatform, context: str) -> str:
    """The gateway's URL as seen from pods of ``context``: its Service when it runs there."""
    deploy = p.k8s.gateway.deploy
    if deploy is not None and deploy.context == context:
        return f"http://{meta.gateway_name(p.name)}.{p.k8s.namespace}.svc:{meta.GATEWAY_PORT}"
    return deploy.url if deploy is not None else p.k8s.gateway.external.url  # type: ignore[union-attr]


def run_load(p: KubernetesPlatform, job: LoadJob, context: str, run_dir: Path, *, keep: bool = False) -> Path:
    """Replay ``job`` from ``context``; return the merged request log (see the module docstring)."""
    kube = p.clusters.context(context)
    docs = load_manifests(p.spec, p.run().run, job)
    try:
        for doc in docs:
            kube.apply(doc)
        _wait_ended(p, kube, job)
        folder = run_dir / "request_log"
        for pod in _pods(p, kube, job, "worker"):
            log = kube.text(f"{collection('Pod', p.k8s.namespace)}/{pod}/log", query={"container": "worker"})
            extract(log, folder)
        return compact(folder)
    finally:
        if not keep:
            delete_load(p, kube, job.id)


def delete_load(p: KubernetesPlatform, kube: KubeClient, load_id: str) -> list[str]:
    """Delete a load's objects, found by their labels; return their names."""
    match = meta.environment_labels(p.name) | {LOAD: load_id}
    deleted = []
    for kind in _KINDS:
        for obj in kube.list(kind, p.k8s.namespace, meta.selector(match)):
            kube.delete(object_path(obj | {"kind": kind}), {"propagationPolicy": "Background"})
            deleted.append(obj["metadata"]["name"])
    return deleted


def _wait_ended(p: KubernetesPlatform, kube: KubeClient, job: LoadJob) -> None:
    """Until both Jobs have ended (a master that failed to start is an error; failed requests are not)."""
    deadline = p.clock() + job.run_time_s + 600
    while True:
        master, workers = (_ended(p, kube, job, role) for role in ("master", "worker"))
        if master is False:
            raise StartupError(f"the Locust master of load {job.id} failed: `kubectl logs job/{name_of(p.spec, job, 'master')}`")
        if master and workers is not None:
            return
        if p.clock() > deadline:
            raise ComponentError(f"load {job.id} did not end within {job.run_time_s + 600} s")
        p.sleep(p.poll_s)


def _ended(p: KubernetesPlatform, kube: KubeClient, job: LoadJob, role: str) -> bool | None:
    """True: every pod succeeded; False: one failed; None: still running."""
    found = kube.get(f"{collection('Job', p.k8s.namespace)}/{name_of(p.spec, job, role)}")
    if found is None:
        raise ComponentError(f"the {role} Job of load {job.id} disappeared")
    status = found.get("status") or {}
    count = found["spec"]["completions"]
    if status.get("failed"):
        return False if role == "master" else (None if status.get("active") else True)
    return True if (status.get("succeeded") or 0) >= count else None


def _pods(p: KubernetesPlatform, kube: KubeClient, job: LoadJob, role: str) -> list[str]:
    match = meta.environment_labels(p.name) | {LOAD: job.id, ROLE: role}
    return sorted(o["metadata"]["name"] for o in kube.list("Pod", p.k8s.namespace, meta.selector(match)))
