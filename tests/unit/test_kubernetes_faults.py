"""Faults on the Kubernetes platform against two fake API servers: the exact calls and bodies.

Node changes are recorded on the node in the same patch that makes them, and undone by
finding that record; fault objects are applied with labels and deleted by those labels;
the Chaos Toolkit actions record their undo before the first request that does harm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillkit.chaos import actions
from drillkit.errors import AlreadyUpError, ComponentError, SpecError
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Health
from drillkit.platforms.kubernetes import KubernetesPlatform
from tests.fakes.kube_api import APPLY, FakeKube, fake_kube
from tests.fakes.kube_env import CONTEXTS, kube_environment
from tests.fakes.kube_objects import deployment_controller, node, statefulset_controller

MERGE = "application/merge-patch+json"
PODS = "/api/v1/namespaces/drills/pods"
NODES = "/api/v1/nodes"
TRITON = "app.kubernetes.io/name=drillkit-triton,drillkit.io/environment=k8s"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeKube]]:
    with fake_kube() as a, fake_kube() as b:
        for region, kube in (("primary", a), ("standby", b)):
            # Both pods of a region share one GPU node, as on a small cluster.
            kube.controllers["StatefulSet"] = statefulset_controller(lambda sts, i: f"{sts}-gpu")
            kube.controllers["Deployment"] = deployment_controller
            kube.put(f"{NODES}/k8s-{region}-gpu", node(f"k8s-{region}-gpu", {"nvidia.com/gpu.present": "true"}))
        yield {"primary": a, "standby": b}


@pytest.fixture
def platform(tmp_path: Path, fakes: dict[str, FakeKube]) -> KubernetesPlatform:
    urls = {CONTEXTS[region]: kube.url for region, kube in fakes.items()}
    spec = kube_environment(tmp_path, urls, model_repository={"pvc": "models"}, chaos_mesh=True)
    p = KubernetesPlatform(spec, spec_file=str(tmp_path / "env.yaml"), poll_s=0.001)
    p.up()
    for kube in fakes.values():
        kube.clear()
    return p


def requests(kube: FakeKube) -> list[tuple[str, str, dict[str, str], str | None, Any]]:
    return [(c.method, c.path, c.query, c.content_type, c.body) for c in kube.calls]


def host(kube: FakeKube, region: str) -> dict[str, Any]:
    return kube.objects[f"{NODES}/k8s-{region}-gpu"]


def test_kill_node_deletes_exactly_that_pod_at_once(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    uid = fakes["primary"].objects[f"{PODS}/k8s-primary-1"]["metadata"]["uid"]
    platform.kill_node("primary-1")
    assert requests(fakes["primary"]) == [
        ("GET", PODS, {"labelSelector": f"{TRITON},drillkit.io/region=primary", "fieldSelector": "metadata.name=k8s-primary-1"}, None, None),
        ("DELETE", f"{PODS}/k8s-primary-1", {}, "application/json", {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}),
    ]  # fmt: skip
    assert not fakes["standby"].calls


def test_hang_drains_the_pods_node_and_resume_uncordons_it(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    primary = fakes["primary"]
    version = host(primary, "primary")["metadata"]["resourceVersion"]
    platform.pause_node("primary-0")
    writes = [(c.method, c.path, c.content_type, c.body) for c in primary.writes()]
    assert writes == [
        ("PATCH", f"{NODES}/k8s-primary-gpu", MERGE, {"metadata": {"labels": {"k8s.drillkit.io/drain-primary-0": "cordoned",
                                                                             "k8s.drillkit.io/marked": "true"},
                                                                  "resourceVersion": version}, "spec": {"unschedulable": True}}),
        ("POST", f"{PODS}/k8s-primary-0/eviction", "application/json",
         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "k8s-primary-0", "namespace": "drills"}}),
        ("POST", f"{PODS}/k8s-primary-1/eviction", "application/json",
         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "k8s-primary-1", "namespace": "drills"}}),
    ]  # fmt: skip
    assert any(c.query == {"labelSelector": TRITON, "fieldSelector": "spec.nodeName=k8s-primary-gpu"} for c in primary.calls_of("GET"))
    primary.clear()
    platform.resume_node("primary-0")
    assert primary.calls[0].query == {"labelSelector": "k8s.drillkit.io/drain-primary-0"}  # found by its mark, not by the pod
    patch = primary.calls_of("PATCH")[0]
    assert patch.body["metadata"]["labels"] == {"k8s.drillkit.io/drain-primary-0": None, "k8s.drillkit.io/marked": None}
    assert patch.body["spec"] == {"unschedulable": False}
    assert host(primary, "primary")["spec"]["unschedulable"] is False
    assert not [k for k in host(primary, "primary")["metadata"]["labels"] if "drillkit" in k]


def test_a_node_that_was_cordoned_before_stays_cordoned_after_the_undo(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    host(fakes["primary"], "primary")["spec"]["unschedulable"] = True  # an operator's cordon
    platform.pause_node("primary-0")
    assert host(fakes["primary"], "primary")["metadata"]["labels"]["k8s.drillkit.io/drain-primary-0"] == "was-cordoned"
    platform.resume_node("primary-0")
    assert host(fakes["primary"], "primary")["spec"]["unschedulable"] is True
    assert "spec" not in fakes["primary"].calls_of("PATCH")[-1].body


def test_a_disruption_budget_that_refuses_an_eviction_is_an_error_after_the_cordon(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    fakes["primary"].refuse[("POST", f"{PODS}/k8s-primary-1/eviction")] = (429, "Cannot evict pod as it would violate the pod's disruption budget.")
    with pytest.raises(ComponentError, match="PodDisruptionBudget refused to evict k8s-primary-1"):
        platform.pause_node("primary-0")
    assert host(fakes["primary"], "primary")["spec"]["unschedulable"] is True  # the mark is there for the undo
    platform.resume_node("primary-0")
    assert host(fakes["primary"], "primary")["spec"]["unschedulable"] is False


def test_a_gpu_fault_taints_and_cordons_the_node_and_deletes_its_triton_pods(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    standby = fakes["standby"]
    host(standby, "standby")["spec"]["taints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    platform.inject_gpu_fault("standby-1", 79)
    patch, *deletes = standby.writes()
    assert patch.body["spec"] == {"unschedulable": True, "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"},
                                                                   {"key": "drillkit.io/gpu-xid", "value": "79", "effect": "NoSchedule"}]}  # fmt: skip
    assert patch.body["metadata"]["labels"] == {"k8s.drillkit.io/gpu-standby-1": "cordoned", "k8s.drillkit.io/marked": "true"}
    assert [(c.method, c.path, c.body) for c in deletes] == [("DELETE", f"{PODS}/k8s-standby-0", {"gracePeriodSeconds": 0}),
                                                             ("DELETE", f"{PODS}/k8s-standby-1", {"gracePeriodSeconds": 0})]  # fmt: skip
    with pytest.raises(ValueError, match="Xid 13 is not simulated"):
        platform.inject_gpu_fault("standby-0", 13)


def test_restart_after_a_gpu_fault_untaints_uncordons_and_waits_until_ready(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    standby = fakes["standby"]
    platform.inject_gpu_fault("standby-0", 48)
    sts = standby.objects["/apis/apps/v1/namespaces/drills/statefulsets/k8s-standby"]
    waits = []

    def controller_catches_up(seconds: float) -> None:  # the StatefulSet controller recreates the pods
        waits.append(seconds)
        statefulset_controller(lambda s, i: "k8s-standby-gpu-2")(standby, sts)

    platform.sleep = controller_catches_up
    platform.restart_nodes(["standby-0", "standby-1"])
    assert waits == [0.001]  # one poll found them missing, the next found them ready
    node_after = host(standby, "standby")
    assert node_after["spec"] == {"unschedulable": False, "taints": []}
    assert not [k for k in node_after["metadata"]["labels"] if "drillkit.io" in k]
    assert [n.health for n in platform.status().nodes("standby")] == [Health.READY, Health.READY]


def test_a_partition_is_a_labelled_deny_all_policy_deleted_by_its_labels(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    standby = fakes["standby"]
    platform.set_network_fault("standby-1", Fault(blackhole=True))
    (apply,) = standby.writes()
    assert (apply.path, apply.content_type, apply.query) == ("/apis/networking.k8s.io/v1/namespaces/drills/networkpolicies/k8s-partition-standby-1",
                                                            APPLY, {"fieldManager": "drillkit", "force": "true"})  # fmt: skip
    assert apply.body["spec"] == {"podSelector": {"matchLabels": {"statefulset.kubernetes.io/pod-name": "k8s-standby-1"}},
                                  "policyTypes": ["Ingress", "Egress"]}  # fmt: skip
    standby.clear()
    platform.set_network_fault("standby-1", Fault())
    selector = "app.kubernetes.io/managed-by=drillkit,drillkit.io/environment=k8s,drillkit.io/node=standby-1,app.kubernetes.io/component=fault"
    assert [(c.method, c.path, c.query.get("labelSelector")) for c in standby.calls] == [
        ("GET", "/apis/networking.k8s.io/v1/namespaces/drills/networkpolicies", selector),
        ("DELETE", "/apis/networking.k8s.io/v1/namespaces/drills/networkpolicies/k8s-partition-standby-1", None),
        ("GET", "/apis/chaos-mesh.org/v1alpha1/namespaces/drills/networkchaos", selector),
    ]  # fmt: skip
    platform.set_network_fault("standby-1", Fault())  # clearing twice is harmless
    assert not fakes["primary"].calls


def test_latency_goes_through_chaos_mesh_and_resets_are_refused(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    platform.set_network_fault("primary-0", Fault(latency_ms=200, jitter_ms=50))
    (apply,) = fakes["primary"].writes()
    assert apply.path == "/apis/chaos-mesh.org/v1alpha1/namespaces/drills/networkchaos/k8s-delay-primary-0"
    assert apply.body["spec"]["delay"] == {"latency": "200ms", "jitter": "50ms", "correlation": "0"}
    with pytest.raises(SpecError, match="connection resets cannot be made on Kubernetes"):
        platform.set_network_fault("primary-0", Fault(reset_ratio=0.3))
    assert len(fakes["primary"].writes()) == 1


def test_a_hog_is_a_pod_pinned_beside_the_node_and_stopped_by_its_labels(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    primary = fakes["primary"]
    platform.start_hog("hog-memory-primary-1", "primary-1", "memory", 0.5, 60)
    (apply,) = primary.writes()
    assert apply.path == f"{PODS}/k8s-hog-memory-primary-1" and apply.content_type == APPLY
    assert apply.body["spec"]["nodeName"] == "k8s-primary-gpu"
    assert apply.body["spec"]["containers"][0]["args"] == ["--kind", "memory", "--level", "0.5", "--device", "auto", "--duration", "60"]
    hog = primary.objects[f"{PODS}/k8s-hog-memory-primary-1"]
    hog["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    with pytest.raises(AlreadyUpError):
        platform.start_hog("hog-memory-primary-1", "primary-1", "memory", 0.5, 60)
    primary.clear()
    platform.stop_hog("hog-memory-primary-1")
    selector = "app.kubernetes.io/managed-by=drillkit,drillkit.io/environment=k8s,drillkit.io/hog=hog-memory-primary-1,app.kubernetes.io/component=hog"
    assert [(c.method, c.path, c.query.get("labelSelector"), c.body) for c in primary.calls] == [
        ("GET", PODS, selector, None), ("DELETE", f"{PODS}/k8s-hog-memory-primary-1", None, {"gracePeriodSeconds": 5})]  # fmt: skip
    assert [c.query.get("labelSelector") for c in fakes["standby"].calls] == [selector]


def test_the_chaos_actions_record_the_undo_before_the_first_harmful_request(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    configuration = {"drillkit_env": platform.spec_file}
    fakes["primary"].refuse[("DELETE", f"{PODS}/k8s-primary-0")] = (500, "etcd is having a bad day")
    with pytest.raises(ComponentError, match="HTTP 500 etcd is having a bad day"):
        actions.crash_node("primary", configuration=configuration)
    (pending,) = platform.undo_log().pending()
    assert (pending.fault, pending.undo, pending.args) == ("crash_node", "restart_nodes", {"nodes": ["primary-0", "primary-1"]})


def test_hang_and_rollback_through_the_chaos_actions(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    configuration = {"drillkit_env": platform.spec_file}
    output = actions.hang_node("standby-0", configuration=configuration)
    assert output["targets"] == ["standby-0"] and host(fakes["standby"], "standby")["spec"]["unschedulable"] is True
    done = actions.rollback_all(configuration=configuration)
    assert [(u["undo"], u["error"]) for u in done["undone"]] == [("resume_nodes", None)]
    assert host(fakes["standby"], "standby")["spec"]["unschedulable"] is False
    assert not platform.undo_log().pending()


def test_a_region_outage_scales_to_zero_until_the_restart_scales_back(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    primary = fakes["primary"]
    platform.stop_region("primary")
    scale = "/apis/apps/v1/namespaces/drills/statefulsets/k8s-primary/scale"
    assert [(c.method, c.path, c.content_type, c.body) for c in primary.writes()] == [
        ("PATCH", scale, MERGE, {"spec": {"replicas": 0}}),
        ("DELETE", f"{PODS}/k8s-primary-0", "application/json", {"gracePeriodSeconds": 0}),
        ("DELETE", f"{PODS}/k8s-primary-1", "application/json", {"gracePeriodSeconds": 0}),
    ]  # fmt: skip
    assert [n.health for n in platform.status().nodes("primary")] == [Health.DEAD, Health.DEAD]
    primary.clear()
    platform.restart_nodes(["primary-0", "primary-1"])
    assert [(c.path, c.body) for c in primary.calls_of("PATCH")] == [(scale, {"spec": {"replicas": 2}})]
    assert [n.health for n in platform.status().nodes("primary")] == [Health.READY, Health.READY]
    assert not fakes["standby"].writes()


def test_a_gpu_fault_on_a_region_sharing_one_gpu_node_marks_it_once(platform: KubernetesPlatform, fakes: dict[str, FakeKube]) -> None:
    configuration = {"drillkit_env": platform.spec_file}
    primary = fakes["primary"]
    output = actions.gpu_device_lost("primary", configuration=configuration)
    assert output["targets"] == ["primary-0", "primary-1"] and output["layer"] == "device-plugin"
    # primary-0's fault took the host and both pods; primary-1's pod was gone by then.
    assert [c.method for c in primary.writes()] == ["PATCH", "DELETE", "DELETE"]
    assert host(primary, "primary")["metadata"]["labels"]["k8s.drillkit.io/gpu-primary-0"] == "cordoned"
    sts = primary.objects["/apis/apps/v1/namespaces/drills/statefulsets/k8s-primary"]
    statefulset_controller(lambda s, i: "k8s-primary-gpu-2")(primary, sts)  # the controller replaces them elsewhere
    actions.rollback_all(configuration=configuration)
    assert host(primary, "primary")["spec"] == {"unschedulable": False, "taints": []}


FAULT_ARGS: dict[str, dict[str, Any]] = {
    "add_latency": {"latency_ms": 50.0}, "reset_connections": {"ratio": 0.5}, "limit_bandwidth": {"kbps": 100.0},
    "gpu_memory_pressure": {"duration_s": 5.0}, "gpu_compute_pressure": {"duration_s": 5.0},
}  # fmt: skip


# Faults the fake clusters cannot make (no reset injector, no repository access) are refused at
# plan time (test_drill_plan); the data faults' outputs are read by the restore drill's
# integration test, whose RPO comes from their FaultOutput.
UNSUPPORTED_HERE = ("reset_connections", "destroy_model_repository", "corrupt_model_repository")


@pytest.mark.parametrize("fault", [f for f in actions.FAULTS if f not in UNSUPPORTED_HERE])
def test_every_fault_returns_a_whole_fault_output_naming_its_targets(platform: KubernetesPlatform, fault: str) -> None:
    """TTD and the report read the faulted nodes from this output: a fault that left them out
    would silently get no TTD."""
    from drillkit.events import FaultOutput

    func = getattr(actions, fault)
    target = {"region": "primary"} if func.__code__.co_varnames[0] == "region" else {"target": "primary"}
    output = FaultOutput.model_validate(func(**target, **FAULT_ARGS.get(fault, {}), configuration={"drillkit_env": platform.spec_file}))
    assert output.fault == fault and output.targets == ["primary-0", "primary-1"] and output.layer


def test_the_faults_the_fake_cannot_make_are_the_ones_it_lacks(platform: KubernetesPlatform) -> None:
    assert {f for f in actions.FAULTS if (n := actions.NEEDS.get(f)) and platform.lacks(n)} == set(UNSUPPORTED_HERE)
