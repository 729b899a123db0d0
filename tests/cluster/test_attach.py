"""Attach mode against two real clusters: a small workload deployed with plain manifests (a
Deployment in one context, a StatefulSet in the other, no drillkit label on either), then
drilled by selector: crash, drain, region stop by scaling, partition, each undone.

Skipped unless DRILLKIT_KUBECONFIG names a kubeconfig with two contexts (README: Two
Kubernetes clusters). The pods run the drillkit image's Python as a stand-in server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest
import yaml

from drillkit.netfault.faults import Fault
from drillkit.platforms.attached import AttachedPlatform
from drillkit.platforms.base import Health
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.clusters import allowed_from_environment
from drillkit.spec import load_environment
from tests.cluster.conftest import _contexts, real_clusters

pytestmark = pytest.mark.skipif(not real_clusters(), reason="needs DRILLKIT_KUBECONFIG naming two contexts (README: Two Kubernetes clusters)")
NS = "drillkit-attach-test"
LABELS = {"app": "recsys-attach"}


def _workload(kind: str, name: str, replicas: int) -> dict[str, object]:
    pod = {"metadata": {"labels": LABELS}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
        "name": "server", "image": os.environ.get("DRILLKIT_IMAGE", "drillkit:dev"), "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "http.server", "8000"], "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1}}]}}  # fmt: skip
    spec: dict[str, object] = {"replicas": replicas, "selector": {"matchLabels": LABELS}, "template": pod}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec}


def eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s:.0f} s"
        time.sleep(1.0)


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttachedPlatform]:
    found = _contexts()
    assert found is not None
    kubeconfig, (ctx_a, ctx_b) = found
    folder = tmp_path_factory.mktemp("attach")
    document = {
        "name": "atest", "platform": "kubernetes", "state_dir": str(folder / "state"),
        "regions": [{"name": "primary", "role": "primary", "nodes": 2}, {"name": "standby", "role": "standby", "nodes": 2}],
        "prometheus": {"url": "http://127.0.0.1:9"},
        "kubernetes": {"deploy": False, "kubeconfig": str(kubeconfig), "start_timeout_s": 300,
                       "clusters": [{"region": "primary", "context": ctx_a, "namespace": NS, "selector": LABELS},
                                    {"region": "standby", "context": ctx_b, "namespace": NS, "selector": dict(LABELS)}],
                       "gateway": {"external": {"url": "http://127.0.0.1:9"}}},
    }  # fmt: skip
    path = folder / "attach.yaml"
    path.write_text(yaml.safe_dump(document))
    p = AttachedPlatform(load_environment(path), spec_file=str(path), poll_s=1.0, allow_contexts=allowed_from_environment())
    workloads = {"primary": _workload("Deployment", "recsys-a", 2), "standby": _workload("StatefulSet", "recsys-b", 2)}
    for region, doc in workloads.items():
        kube = p.clusters.region(region)
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        kube.apply(doc)
    try:
        for region in workloads:
            eventually(lambda r=region: sum(x.health is Health.READY for x in p.discover(r).pods) == 2, 300, f"{region} ready")
        p.up()
        yield p
    finally:
        for region in workloads:
            p.clusters.region(region).delete(f"{collection('Namespace')}/{NS}")


def test_status_finds_both_controllers(attached: AttachedPlatform) -> None:
    assert attached.discover("primary").controllers() == [("Deployment", "recsys-a")]
    assert attached.discover("standby").controllers() == [("StatefulSet", "recsys-b")]
    assert attached.status().up and len(attached.node_names()) == 4


def test_crash_drain_stop_and_partition_are_undone(attached: AttachedPlatform) -> None:
    first = attached.discover("primary").pods[0].name
    attached.kill_node("primary-0")
    attached.restart_nodes(["primary-0"])
    assert first not in [x.name for x in attached.discover("primary").pods]
    attached.pause_node("standby-1")
    attached.resume_node("standby-1")
    attached.restart_nodes(["standby-1"])
    attached.stop_region("standby")
    eventually(lambda: not [x for x in _pods(attached, "standby") if x.health is Health.READY], 120, "the standby stopped")
    attached.restart_nodes(["standby-0", "standby-1"])
    attached.set_network_fault("primary-1", Fault(blackhole=True))
    attached.set_network_fault("primary-1", Fault())
    assert all(x.health is Health.READY for r in ("primary", "standby") for x in attached.discover(r).pods)


def _pods(p: AttachedPlatform, region: str) -> list:  # type: ignore[type-arg]
    try:
        return p.discover(region).pods
    except Exception:
        return []

