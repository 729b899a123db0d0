"""drillkit against two real clusters (e.g. two kind clusters): up, faults, undo, load, down.

Skipped unless DRILLKIT_KUBECONFIG names a kubeconfig with two contexts (see conftest.py and
the README section "Two Kubernetes clusters"). Partitions need a CNI that enforces
NetworkPolicy (kind >= 0.24's kindnet, Calico, Cilium).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drillkit.chaos import actions
from drillkit.model.client import RecommenderClient
from drillkit.platforms.base import Health
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.load import in_cluster_gateway, run_load
from drillkit.platforms.k8s.node_faults import mark_key
from drillkit.platforms.k8s.render_load import LoadJob
from drillkit.platforms.kubernetes import KubernetesPlatform
from drillkit.request_log import read_request_log
from drillkit.smoke import probe_gateway
from tests.cluster.conftest import real_clusters

pytestmark = pytest.mark.skipif(not real_clusters(), reason="needs DRILLKIT_KUBECONFIG naming two contexts (README: Two Kubernetes clusters)")


def eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s:.0f} s"
        time.sleep(1.0)


def configuration(p: KubernetesPlatform) -> dict[str, str]:
    return {"drillkit_env": str(p.spec_file)}


def test_up_serves_the_golden_answers_through_the_gateway(platform: KubernetesPlatform) -> None:
    status = platform.status()
    assert status.up and [n.health for n in status.nodes()] == [Health.READY] * 3
    assert all(r.ok for r in probe_gateway(status.gateway_url or "", platform.spec))
    eventually(lambda: set(platform.gateway_states().values()) == {"UP"}, 30, "every region UP at the gateway")


def test_a_crashed_node_comes_back_under_its_name(platform: KubernetesPlatform) -> None:
    kube = platform.clusters.region("primary")
    path = f"{collection('Pod', platform.k8s.namespace)}/{meta.node_pod(platform.name, 'primary-1')}"
    before = kube.get(path)["metadata"]["uid"]  # type: ignore[index]
    actions.crash_node("primary-1", configuration=configuration(platform))
    actions.rollback_all(configuration=configuration(platform))  # restart_nodes: waits until ready
    after = kube.get(path)
    assert after is not None and after["metadata"]["uid"] != before
    assert RecommenderClient(platform.status().gateway_url or "").recommend(1, 10).error is None


def test_a_partitioned_region_goes_down_at_the_gateway_and_comes_back(platform: KubernetesPlatform) -> None:
    actions.partition("primary", configuration=configuration(platform))
    try:
        eventually(lambda: platform.gateway_states().get("primary-0") == "DOWN", 60, "the gateway marking primary DOWN")
        reply = RecommenderClient(platform.status().gateway_url or "").recommend(1, 10)
        assert reply.error is None and reply.region == "standby"
    finally:
        actions.rollback_all(configuration=configuration(platform))
    eventually(lambda: platform.gateway_states().get("primary-0") == "UP", 60, "primary UP again")


def test_a_hung_node_is_drained_and_its_node_uncordoned_after(platform: KubernetesPlatform) -> None:
    actions.hang_node("standby-0", configuration=configuration(platform))
    kube = platform.clusters.region("standby")
    cordoned = kube.list("Node", None, mark_key(platform.name, "drain", "standby-0"))
    assert cordoned and cordoned[0]["spec"]["unschedulable"] is True
    actions.rollback_all(configuration=configuration(platform))
    host = kube.get(collection("Node") + f"/{cordoned[0]['metadata']['name']}")
    assert host is not None and not host["spec"].get("unschedulable")
    platform.restart_nodes(["standby-0"])


def test_a_gpu_fault_taints_and_the_rollback_restores_the_node(platform: KubernetesPlatform) -> None:
    actions.gpu_device_lost("primary-0", configuration=configuration(platform))
    kube = platform.clusters.region("primary")
    (host,) = kube.list("Node", None, mark_key(platform.name, "gpu", "primary-0"))
    assert {"key": "drillkit.io/gpu-xid", "value": "79", "effect": "NoSchedule"} in host["spec"]["taints"]
    actions.rollback_all(configuration=configuration(platform))
    host = kube.get(collection("Node") + f"/{host['metadata']['name']}")
    assert host is not None and not any(t["key"] == "drillkit.io/gpu-xid" for t in host["spec"].get("taints") or [])
    assert platform.status().nodes("primary")[0].health is Health.READY


def test_a_hog_pod_runs_beside_the_node_and_is_stopped(platform: KubernetesPlatform) -> None:
    actions.gpu_compute_pressure("standby-0", level=0.5, duration_s=60, configuration=configuration(platform))
    kube = platform.clusters.region("standby")
    pod = f"{collection('Pod', platform.k8s.namespace)}/{platform.name}-hog-compute-standby-0"
    eventually(lambda: ((kube.get(pod) or {}).get("status") or {}).get("phase") == "Running", 180, "the hog running")
    actions.rollback_all(configuration=configuration(platform))
    eventually(lambda: kube.get(pod) is None, 60, "the hog gone")


def test_distributed_load_brings_every_workers_request_log_home(platform: KubernetesPlatform, tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("offset_s,kind,user_id,query,k\n" + "".join(f"{i * 0.05:.2f},recommend,{i % 400},,10\n" for i in range(400)))
    context = platform.k8s.contexts()[0]
    job = LoadJob(id="ctest1", workers=2, trace_name=trace.name, trace=trace.read_bytes(),
                  host=in_cluster_gateway(platform, context), duration_s=20.0)  # fmt: skip
    path = run_load(platform, job, context, tmp_path / "run")
    frame = read_request_log(path.parent)
    assert len(frame) == 400 and frame["worker"].nunique() == 2
    assert (frame["outcome"] == "ok").mean() > 0.99


def test_down_leaves_nothing_labelled(platform: KubernetesPlatform) -> None:
    platform.down()
    selector = meta.selector(meta.environment_labels(platform.name))

    def gone() -> bool:
        kinds = ("StatefulSet", "Deployment", "Service", "Pod", "NetworkPolicy", "Job")
        return not any(platform.clusters.context(c).list(k, platform.k8s.namespace, selector)
                       for c in platform.k8s.contexts() for k in kinds)  # fmt: skip

    eventually(gone, 180, "every labelled object deleted")
    platform.down()  # a second down (the namespace may still be terminating) is harmless
