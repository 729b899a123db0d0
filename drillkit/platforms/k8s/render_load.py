"""Distributed trace replay in a cluster: one Locust master Job and N worker pods (a Job).

The trace travels in a ConfigMap; the master shards it over the workers (``loadtests``'
distributed mode) and quits when every worker is done. Each worker runs Locust under
``drillkit.platforms.k8s.results``, which prints the worker's request log into the pod's log
once Locust ends: drillkit reads it back through the API (``pods/log``), so collecting needs
no shared volume, no object storage and no exec. Pod logs are rotated by the kubelet at
10 MiB by default, so one worker's request log must stay under about 7 MiB (roughly
200,000 requests): use more workers for longer replays (the collector says so when a log
was cut).

>>> docs = load_manifests(spec, "k8s-20260101000000", LoadJob(id="a1b2", workers=4, ...))   # doctest: +SKIP
>>> [d["kind"] for d in docs]                                                               # doctest: +SKIP
['ConfigMap', 'Service', 'Job', 'Job']
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

from drillkit.errors import SpecError
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.render_region import Manifest
from drillkit.spec import EnvironmentSpec

LOCUSTFILE = "/opt/drillkit/loadtests/locustfile.py"  # where the repository Dockerfile puts it
MASTER_PORT = 5557
MAX_TRACE_BYTES = 900 * 1024  # a ConfigMap holds 1 MiB in all
LOAD = "drillkit.io/load"
ROLE = "drillkit.io/role"


@dataclass(frozen=True)
class LoadJob:
    """One distributed replay: what to send, where, with how many workers, within which caps."""

    id: str  # short, lowercase: names and labels the load's objects
    workers: int
    trace_name: str
    trace: bytes
    host: str
    speed: float = 1.0
    duration_s: float = 600.0  # the trace's length at this speed (the run-time cap derives from it)
    max_requests: int = 1_000_000
    request_timeout_s: float = 10.0
    locustfile: str = LOCUSTFILE

    @property
    def run_time_s(self) -> int:
        return math.ceil(self.duration_s + self.request_timeout_s + 15)


def load_manifests(spec: EnvironmentSpec, run: str, job: LoadJob) -> list[Manifest]:
    """ConfigMap (trace), master Service, master Job, worker Job: in apply order."""
    if len(job.trace) > MAX_TRACE_BYTES:
        raise SpecError("command line", "--trace", f"{job.trace_name} is {len(job.trace) / 2**20:.1f} MiB; a ConfigMap "
                        "holds 1 MiB", "replay a shorter trace, or a Parquet one (smaller than CSV)")  # fmt: skip
    return [_trace(spec, run, job), _service(spec, run, job), _master(spec, run, job), _workers(spec, run, job)]


def name_of(spec: EnvironmentSpec, job: LoadJob, role: str = "") -> str:
    return f"{spec.name}-load-{job.id}" + (f"-{role}" if role else "")


def labels_of(spec: EnvironmentSpec, run: str, job: LoadJob, role: str | None = None) -> dict[str, str]:
    return meta.labels(spec.name, run, "load", **{LOAD: job.id}, **({ROLE: role} if role else {}))


def _namespace(spec: EnvironmentSpec) -> str:
    assert spec.kubernetes is not None
    return spec.kubernetes.namespace


def _trace(spec: EnvironmentSpec, run: str, job: LoadJob) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(name_of(spec, job), _namespace(spec), labels_of(spec, run, job)),
        "binaryData": {job.trace_name: base64.b64encode(job.trace).decode()},
    }


def _service(spec: EnvironmentSpec, run: str, job: LoadJob) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(name_of(spec, job, "master"), _namespace(spec), labels_of(spec, run, job)),
        "spec": {"selector": {LOAD: job.id, ROLE: "master"}, "ports": [{"name": "locust", "port": MASTER_PORT, "targetPort": MASTER_PORT}]},
    }


def replay_args(job: LoadJob) -> list[str]:
    """The locustfile's own options, the same for master and workers (loadtests/README.md)."""
    return ["--trace", f"/trace/{job.trace_name}", "--speed", f"{job.speed:g}", "--request-log", "/results",
            "--max-requests", str(job.max_requests), "--max-duration", f"{job.duration_s:g}",
            "--request-timeout", f"{job.request_timeout_s:g}"]  # fmt: skip


def _master(spec: EnvironmentSpec, run: str, job: LoadJob) -> Manifest:
    n = str(job.workers)
    args = ["-m", "locust", "-f", job.locustfile, "--master", "--headless", "--expect-workers", n,
            "--expect-workers-max-wait", "300", "-u", n, "-r", n, "--host", job.host, "--run-time", f"{job.run_time_s}s",
            "--stop-timeout", str(math.ceil(job.request_timeout_s)), "--only-summary",
            "--exit-code-on-error", "0", *replay_args(job)]  # failed requests are what a drill measures, not a failed Job  # fmt: skip
    container = _container(spec, "master", ["python"], args)
    container["ports"] = [{"name": "locust", "containerPort": MASTER_PORT}]
    return _job(spec, run, job, "master", 1, container)


def _workers(spec: EnvironmentSpec, run: str, job: LoadJob) -> Manifest:
    locust = ["python", "-m", "locust", "-f", job.locustfile, "--worker", "--master-host", name_of(spec, job, "master"),
              "--master-port", str(MASTER_PORT), *replay_args(job)]  # fmt: skip
    # The wrapper runs Locust, then prints the request log between markers for collection.
    container = _container(spec, "worker", ["python"], ["-m", "drillkit.platforms.k8s.results", "--dir", "/results", "--", *locust])
    return _job(spec, run, job, "worker", job.workers, container)


def _container(spec: EnvironmentSpec, name: str, command: list[str], args: list[str]) -> Manifest:
    assert spec.kubernetes is not None
    images = spec.kubernetes.images
    return {
        "name": name,
        "image": images.drillkit,
        "imagePullPolicy": images.pull_policy,
        "command": command,
        "args": args,
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "volumeMounts": [{"name": "trace", "mountPath": "/trace", "readOnly": True}, {"name": "results", "mountPath": "/results"}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def _job(spec: EnvironmentSpec, run: str, job: LoadJob, role: str, count: int, container: Manifest) -> Manifest:
    assert spec.kubernetes is not None
    pod: Manifest = {
        "restartPolicy": "Never",  # a replay is not repeated: a second try would double the load
        "containers": [container],
        "volumes": [{"name": "trace", "configMap": {"name": name_of(spec, job)}}, {"name": "results", "emptyDir": {}}],
    }
    if spec.kubernetes.images.pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in spec.kubernetes.images.pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.metadata(name_of(spec, job, role), _namespace(spec), labels_of(spec, run, job, role)),
        "spec": {
            "completions": count,
            "parallelism": count,
            "backoffLimit": 0,
            "activeDeadlineSeconds": job.run_time_s + 600,  # the cluster ends a replay even if drillkit died
            "template": {"metadata": {"labels": labels_of(spec, run, job, role)}, "spec": pod},
        },
    }
