"""Attach mode against two fake API servers: a user's Deployment-managed region and
StatefulSet-managed region that drillkit did not create, beside another tenant's pods.

Discovery, the blast radius (and its refusals), every fault on the user's objects with its
undo, recover after a SIGKILLed runner, nothing touched outside the recorded faults, and the
attach RBAC checked against the requests both ways."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from drillkit.chaos.undo import undo_pending
from drillkit.cli import app
from drillkit.errors import SpecError
from drillkit.netfault.faults import Fault
from drillkit.platforms import open_platform
from drillkit.platforms.attached import NOTHING_TO_STOP, AttachedPlatform
from drillkit.platforms.k8s.attach_faults import partition_key, scaled_from_key
from drillkit.platforms.k8s.blast import blast_radius
from drillkit.spec import EnvironmentSpec
from tests.fakes.kube_api import FakeKube, fake_kube
from tests.fakes.kube_attach import CONTEXTS, NS, OTHER, attach_document, attach_environment, recreate_deleted_pods, seed
from tests.unit.test_kubernetes_rbac import attributes, granted

EAST, WEST = "us-east-1", "eu-west-1"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NS}/deployments/recsys-a"
STATEFULSET = f"/apis/apps/v1/namespaces/{NS}/statefulsets/recsys-b"
RBAC = Path("drills/environments/rbac-attach.yaml")


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeKube]]:
    with fake_kube() as a, fake_kube() as b:
        seed(a, b)
        yield {EAST: a, WEST: b}


def attached(tmp_path: Path, fakes: dict[str, FakeKube], **kubernetes: Any) -> AttachedPlatform:
    spec, path = attach_environment(tmp_path, {CONTEXTS[r]: k.url for r, k in fakes.items()}, **kubernetes)
    platform = open_platform(spec, spec_file=str(path))
    assert isinstance(platform, AttachedPlatform)
    platform.poll_s, platform.sleep = 0.001, lambda s: None
    platform.up()
    return platform


def method(*activities: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {"method": [{"name": n, "type": "action", "provider": {"type": "python", "module": "drillkit.chaos.actions", "func": f,
                                                                  "arguments": a}} for n, f, a in activities]}  # fmt: skip


def pods(kube: FakeKube, labels: dict[str, str] | None = None) -> list[str]:
    found = [o for p, o in kube.objects.items() if "/pods/" in p]
    return sorted(o["metadata"]["name"] for o in found if labels is None or all(o["metadata"]["labels"].get(k) == v for k, v in labels.items()))


def test_status_shows_what_each_selector_found(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = attached(tmp_path, fakes)
    east, west = platform.discover(EAST), platform.discover(WEST)
    assert [x.name for x in east.pods] == pods(fakes[EAST], {"app": "recsys"}) and len(east.pods) == 3  # never the other tenant's
    assert east.controllers() == [("Deployment", "recsys-a")] and west.controllers() == [("StatefulSet", "recsys-b")]
    assert east.replicas[("Deployment", "recsys-a")] == (3, 3) and {h.name: h.gpus for h in west.hosts.values()} == {"gpu-b-0": 2, "gpu-b-1": 2}
    assert platform.node_names() == ["us-east-1-0", "us-east-1-1", "us-east-1-2", "eu-west-1-0", "eu-west-1-1"]
    env_file = tmp_path / "attach.yaml"
    shown = CliRunner().invoke(app, ["status", "--env", str(env_file), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    (region,) = [r for r in data["regions"] if r["region"] == WEST]
    assert region["controllers"] == [{"kind": "StatefulSet", "name": "recsys-b", "replicas": 2, "ready": 2}]
    assert [(p["node"], p["pod"], p["host"], p["health"], p["version"]) for p in region["pods"]] == [
        ("eu-west-1-0", "recsys-b-0", "gpu-b-0", "ready", "v7"), ("eu-west-1-1", "recsys-b-1", "gpu-b-1", "ready", "v7")]
    down = CliRunner().invoke(app, ["down", "--env", str(env_file)])
    assert down.exit_code == 0 and NOTHING_TO_STOP in " ".join(down.output.split())
    assert not [c for k in fakes.values() for c in k.writes()]  # status and down wrote nothing


def test_the_blast_radius_lists_what_each_fault_will_touch_before_anything_is(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = attached(tmp_path, fakes)
    east = [x.name for x in platform.discover(EAST).pods]
    lines = blast_radius(platform, method(("stop", "region_outage", {"region": EAST}), ("crash", "crash_node", {"target": "eu-west-1-1"}),
                                          ("drain", "hang_node", {"target": "us-east-1-1"}), ("xid", "gpu_device_lost", {"target": "eu-west-1-0"}),
                                          ("cut", "partition", {"target": WEST})), "x.json")  # fmt: skip
    assert lines == [
        f"stop: scale Deployment recsys-a from 3 to 0 (kind-drill-a/recsys) and delete 3 pods: {', '.join(east)}",
        "crash: delete 1 pod (kind-drill-b/recsys): recsys-b-1",
        f"drain: cordon node gpu-a-1 and evict 1 pods (kind-drill-a/recsys): {east[1]}",
        "xid: taint (drillkit.io/gpu-xid=79:NoSchedule) and cordon node gpu-b-0, delete 1 pods (kind-drill-b/recsys): recsys-b-0",
        "cut: label 2 pods and create a deny-all NetworkPolicy for each (kind-drill-b/recsys): recsys-b-0, recsys-b-1",
    ]
    assert not [c for k in fakes.values() for c in k.writes()]  # read, never written
    capped = attached(tmp_path / "capped", fakes, max_targets="50%")
    with pytest.raises(SpecError, match=r"would touch 3 of us-east-1's 3 pods; kubernetes.max_targets \(50%\) allows 1"):
        blast_radius(capped, method(("stop", "region_outage", {"region": EAST})), "x.json")
    blast_radius(capped, method(("crash", "crash_node", {"target": "us-east-1-0"})), "x.json")  # one of three is within it


def test_a_selector_that_finds_nothing_or_a_region_of_two_controllers_is_refused_with_the_fix(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    clusters = [{"region": EAST, "context": CONTEXTS[EAST], "namespace": NS, "selector": {"app": "recsys", "tier": "typo"}},
                {"region": WEST, "context": CONTEXTS[WEST], "namespace": NS, "selector": {"app": "recsys"}}]  # fmt: skip
    spec, path = attach_environment(tmp_path, {CONTEXTS[r]: k.url for r, k in fakes.items()}, clusters=clusters)
    platform = open_platform(spec, spec_file=str(path))
    with pytest.raises(SpecError, match=r"kubernetes.clusters\[us-east-1\].selector: app=recsys,tier=typo matches no pod"):
        platform.up()
    # the other tenant's pods carry app: recsys too now: a region stop would not know which controller to scale
    fakes[WEST].objects[f"/api/v1/namespaces/{NS}/pods/other-1"]["metadata"]["labels"]["app"] = "recsys"
    wide = attached(tmp_path / "wide", fakes, clusters=[clusters[1] | {"region": EAST, "context": CONTEXTS[EAST]}, clusters[1]])
    with pytest.raises(SpecError) as caught:
        blast_radius(wide, method(("stop", "region_outage", {"region": WEST})), "x.json")
    assert "matches pods of 2 controllers (ReplicaSet other-5d, StatefulSet recsys-b)" in caught.value.problem
    assert caught.value.fix == "narrow the selector, or name the controller to scale"
    named = attached(tmp_path / "named", fakes, clusters=[clusters[1] | {"region": EAST, "context": CONTEXTS[EAST]},
                                                          clusters[1] | {"controller": {"kind": "StatefulSet", "name": "recsys-b"}}])  # fmt: skip
    assert "scale StatefulSet recsys-b from 2 to 0" in blast_radius(named, method(("stop", "region_outage", {"region": WEST})), "x.json")[0]


@pytest.mark.parametrize(("region", "workload"), [(EAST, DEPLOYMENT), (WEST, STATEFULSET)])
def test_a_region_stop_scales_its_controller_to_zero_recorded_on_it_and_back(
    tmp_path: Path, fakes: dict[str, FakeKube], region: str, workload: str
) -> None:
    platform, kube = attached(tmp_path, fakes), fakes[region]
    before = len(platform.discover(region).pods)
    platform.stop_region(region)
    stopped = kube.objects[workload]
    assert stopped["spec"]["replicas"] == 0 and stopped["metadata"]["labels"][scaled_from_key("attached")] == str(before)
    assert pods(kube, {"app": "recsys"}) == [] and pods(kube, OTHER) == ["other-1"]
    platform.restart_nodes([f"{region}-{i}" for i in range(before)])
    assert kube.objects[workload]["spec"]["replicas"] == before and scaled_from_key("attached") not in kube.objects[workload]["metadata"]["labels"]
    assert len(platform.discover(region).pods) == before


def test_crash_drain_gpu_and_partition_change_only_the_targets_and_their_undo_gives_everything_back(
    tmp_path: Path, fakes: dict[str, FakeKube]
) -> None:
    platform = attached(tmp_path, fakes)
    snapshot = {r: copy.deepcopy(k.objects) for r, k in fakes.items()}
    a, b = fakes[EAST], fakes[WEST]
    # crash: exactly the pod, by uid; the Deployment makes a new one
    victim = platform.discover(EAST).node_pods()["us-east-1-1"]
    platform.kill_node("us-east-1-1")
    assert [(c.method, c.path, c.body) for c in a.writes()] == [
        ("DELETE", f"/api/v1/namespaces/{NS}/pods/{victim.name}", {"gracePeriodSeconds": 0, "preconditions": {"uid": victim.uid}})]
    a.controllers["Deployment"](a, a.objects[DEPLOYMENT])
    platform.restart_nodes(["us-east-1-1"])
    # drain: gpu-b-1 cordoned with drillkit's mark; only the user's pod there evicted
    platform.pause_node("eu-west-1-1")
    host = b.objects["/api/v1/nodes/gpu-b-1"]
    assert host["spec"]["unschedulable"] and host["metadata"]["labels"]["attached.drillkit.io/drain-eu-west-1-1"] == "cordoned"
    assert pods(b, {"app": "recsys"}) == ["recsys-b-0"] and pods(b, OTHER) == ["other-1"]
    platform.resume_node("eu-west-1-1")
    b.controllers["StatefulSet"](b, b.objects[STATEFULSET])
    # GPU Xid 79 on gpu-b-0: tainted, cordoned, the user's pod there deleted, the other tenant's left
    platform.inject_gpu_fault("eu-west-1-0", 79)
    host = b.objects["/api/v1/nodes/gpu-b-0"]
    assert host["spec"]["taints"] == [{"key": "drillkit.io/gpu-xid", "value": "79", "effect": "NoSchedule"}] and host["spec"]["unschedulable"]
    assert pods(b, {"app": "recsys"}) == ["recsys-b-1"] and pods(b, OTHER) == ["other-1"]
    b.controllers["StatefulSet"](b, b.objects[STATEFULSET])
    platform.restart_nodes(["eu-west-1-0"])
    # partition: the pod labelled, a drillkit policy selecting that label; cleared, both gone
    platform.set_network_fault("eu-west-1-1", Fault(blackhole=True))
    (policy,) = [o for p, o in b.objects.items() if "/networkpolicies/" in p]
    assert policy["spec"]["podSelector"] == {"matchLabels": {partition_key("attached"): "eu-west-1-1"}}
    assert policy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "drillkit"
    assert b.objects[f"/api/v1/namespaces/{NS}/pods/recsys-b-1"]["metadata"]["labels"][partition_key("attached")] == "eu-west-1-1"
    with pytest.raises(SpecError, match="attach mode partitions pods"):
        platform.set_network_fault("eu-west-1-1", Fault(latency_ms=50))
    platform.set_network_fault("eu-west-1-1", Fault())
    # Nothing outside the recorded faults: the other tenant's objects, every node and both
    # controllers are as they were; the user's pods are the same set of names or replacements.
    for region, kube in fakes.items():
        for path, obj in snapshot[region].items():
            if "/pods/" in path and "recsys" in path:
                continue  # the faults' targets: deleted and brought back by their controllers
            assert _plain(kube.objects.get(path)) == _plain(obj), path
        assert not [p for p in kube.objects if p not in snapshot[region] and "/pods/" not in p], "an object drillkit left behind"
    touched = {(c.method, c.path.rsplit("/", 1)[0]) for k in fakes.values() for c in k.writes()}
    assert touched <= {("DELETE", f"/api/v1/namespaces/{NS}/pods"), ("PATCH", "/api/v1/nodes"), ("POST", f"/api/v1/namespaces/{NS}/pods/recsys-b-1"),
                       ("PATCH", f"/api/v1/namespaces/{NS}/pods"), ("PATCH", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"),
                       ("DELETE", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies")}, touched  # fmt: skip
    assert not [c for k in fakes.values() for c in k.writes() if "other" in c.path]


def _plain(obj: dict[str, Any] | None) -> Any:
    """An object without what the API server itself changes on every write."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.get("metadata", {}).pop("resourceVersion", None)
    out.pop("status", None) if out.get("kind") in ("Deployment", "StatefulSet") else None
    if out.get("kind") == "Node":
        out["spec"].pop("taints", None) if not out["spec"].get("taints") else None
        out["spec"].pop("unschedulable", None) if not out["spec"].get("unschedulable") else None
    return out


@pytest.mark.parametrize(("action", "target"), [("crash_node", "us-east-1-1"), ("hang_node", "eu-west-1-1"), ("gpu_device_lost", "eu-west-1-0"),
                                                ("region_outage", EAST), ("region_outage", WEST), ("partition", "us-east-1-2")])  # fmt: skip
def test_each_fault_action_is_recorded_then_rolled_back_on_both_kinds_of_controller(
    tmp_path: Path, fakes: dict[str, FakeKube], action: str, target: str
) -> None:
    from drillkit.chaos import actions

    attached(tmp_path, fakes)
    for kube in fakes.values():
        kube.controllers["Deleted"] = recreate_deleted_pods
    before = {r: _pods_and_nodes(k) for r, k in fakes.items()}
    config = {"drillkit_env": str(tmp_path / "attach.yaml")}
    argument = {"region": target} if action == "region_outage" else {"target": target}
    output = getattr(actions, action)(**argument, configuration=config)
    assert output["targets"] and all(t.startswith(target.rsplit("-", 1)[0] if action != "region_outage" else target) for t in output["targets"])
    assert {r: _pods_and_nodes(k) for r, k in fakes.items()} != before  # the fault changed something
    undone = actions.rollback_all(configuration=config)["undone"]
    assert undone and all(u["error"] is None for u in undone), undone
    after = {r: _pods_and_nodes(k) for r, k in fakes.items()}
    for region in fakes:  # the same count of ready pods, and every node and policy as it was
        assert len(after[region][0]) == len(before[region][0]) and after[region][1:] == before[region][1:], (region, after[region])


def _pods_and_nodes(kube: FakeKube) -> tuple[list[str], list[Any], list[str], list[Any]]:
    """Ready pods (names), nodes (spec and drillkit labels), policies, and controllers' replicas and labels."""
    ready = sorted(n for p, o in kube.objects.items() if "/pods/" in p for n in [o["metadata"]["name"]]
                   if any(c.get("status") == "True" for c in o["status"]["conditions"]))  # fmt: skip
    nodes = sorted((o["metadata"]["name"], bool(o["spec"].get("unschedulable")), o["spec"].get("taints") or [],
                    sorted(k for k in o["metadata"].get("labels", {}) if "drillkit" in k)) for p, o in kube.objects.items() if "/nodes/" in p)  # fmt: skip
    policies = sorted(p for p in kube.objects if "/networkpolicies/" in p)
    controllers = sorted((p, o["spec"]["replicas"], sorted(o["metadata"].get("labels", {}))) for p, o in kube.objects.items() if "/apis/apps/" in p
                         and "replicasets" not in p)  # fmt: skip
    return ready, nodes, policies, controllers


_RUNNER = """
import os, signal, sys
from drillkit.chaos.actions import region_outage
region_outage(sys.argv[2], configuration={"drillkit_env": sys.argv[1]})
os.kill(os.getpid(), signal.SIGKILL)  # the runner dies with the region stopped
"""


def test_recover_after_a_sigkilled_runner_scales_the_region_back(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    attached(tmp_path, fakes)
    env_file = tmp_path / "attach.yaml"
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(env_file), EAST], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2], env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])})  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert fakes[EAST].objects[DEPLOYMENT]["spec"]["replicas"] == 0
    platform = open_platform(EnvironmentSpec.model_validate(yaml.safe_load(env_file.read_text())), spec_file=str(env_file))
    platform.poll_s, platform.sleep = 0.001, lambda s: None  # type: ignore[attr-defined]
    undone = undo_pending(platform, faults_only=False)
    assert [(u["fault"], u["undo"], u["error"]) for u in undone] == [("region_outage", "restart_nodes", None)]
    assert fakes[EAST].objects[DEPLOYMENT]["spec"]["replicas"] == 3 and len(pods(fakes[EAST], {"app": "recsys"})) == 3


def test_attach_mode_needs_selectors_and_the_users_endpoint_and_deploy_mode_refuses_them(tmp_path: Path) -> None:
    document = attach_document(tmp_path, tmp_path / "kubeconfig")
    EnvironmentSpec.model_validate(document)
    no_selector = copy.deepcopy(document)
    del no_selector["kubernetes"]["clusters"][0]["selector"]
    with pytest.raises(ValueError, match="attach mode needs a selector"):
        EnvironmentSpec.model_validate(no_selector)
    deployed_gateway = copy.deepcopy(document)
    deployed_gateway["kubernetes"]["gateway"] = {"deploy": {"context": CONTEXTS[EAST], "url": "http://x:1"}}
    with pytest.raises(ValueError, match="attach mode drills your global endpoint"):
        EnvironmentSpec.model_validate(deployed_gateway)
    deploying = copy.deepcopy(document)
    deploying["kubernetes"]["deploy"] = True
    with pytest.raises(ValueError, match="images is required to deploy"):
        EnvironmentSpec.model_validate(deploying)


def test_the_attach_rbac_allows_every_request_and_grants_nothing_unused(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.29", strict=True)
    platform = attached(tmp_path, fakes, images={"drillkit": "registry.example/drillkit:1.0"})
    platform.status()
    platform.kill_node("us-east-1-0")
    fakes[EAST].controllers["Deployment"](fakes[EAST], fakes[EAST].objects[DEPLOYMENT])
    platform.pause_node("us-east-1-1")
    platform.resume_node("us-east-1-1")
    fakes[EAST].controllers["Deployment"](fakes[EAST], fakes[EAST].objects[DEPLOYMENT])
    platform.inject_gpu_fault("eu-west-1-0", 79)
    fakes[WEST].controllers["StatefulSet"](fakes[WEST], fakes[WEST].objects[STATEFULSET])
    platform.restart_nodes(["eu-west-1-0"])
    platform.stop_region(EAST)
    platform.restart_nodes(["us-east-1-0", "us-east-1-1", "us-east-1-2"])
    platform.stop_region(WEST)
    platform.restart_nodes(["eu-west-1-0", "eu-west-1-1"])
    platform.set_network_fault("eu-west-1-1", Fault(blackhole=True))
    platform.set_network_fault("eu-west-1-1", Fault())
    platform.start_hog("hog-compute-eu-west-1-0", "eu-west-1-0", "compute", 1.0, 30)
    platform.stop_hog("hog-compute-eu-west-1-0")
    platform.scale_region(WEST, 2)
    platform.scale_region(EAST, 3)
    platform.stop_region(WEST)
    platform.sweep()  # recover's pass over the objects
    used = [a for kube in fakes.values() for c in kube.calls for a in attributes(c.method, c.path, c.query)]
    grants = granted(docs)
    namespaced, cluster = {g for g, ns in used if ns is not None}, {g for g, ns in used if ns is None}
    assert {ns for _, ns in used if ns is not None} == {NS}
    assert namespaced - grants["Role"] == set(), "attach mode makes requests the Role does not allow"
    assert cluster - grants["ClusterRole"] == set(), "attach mode makes requests the ClusterRole does not allow"
    assert grants["Role"] - namespaced == set(), "the Role grants verbs attach mode never uses"
    assert grants["ClusterRole"] - cluster == set(), "the ClusterRole grants verbs attach mode never uses"
    patched = {c.path.split("/")[7] for k in fakes.values() for c in k.writes() if "/apis/apps/" in c.path}
    named = {n for d in docs if d["kind"] == "Role" for r in d["rules"] if "verbs" in r and "patch" in r["verbs"] for n in r.get("resourceNames", [])}
    assert patched <= named, "a controller is patched that the Role does not name"


def test_the_capacity_pre_check_reads_the_users_triton_metrics_and_refuses_without_them() -> None:
    from drillkit.capacity import from_telemetry, peak_query
    from drillkit.observe.client import PromClient
    from tests.fakes.prometheus import serve_prometheus, vector

    pods = {EAST: ["recsys-a-1", "recsys-a-2"], WEST: ["recsys-b-0", "recsys-b-1"]}
    query = peak_query([p for names in pods.values() for p in names])
    assert 'pod=~"recsys-a-1|recsys-a-2|recsys-b-0|recsys-b-1"' in query and "nv_inference_request_success" in query
    with serve_prometheus() as prom:
        client = PromClient(prom.url, retries=0)
        none = from_telemetry(client, pods, [WEST], 2, 100.0, same_model=True)
        assert not none.ok and "no nv_inference_request_success" in none.reason and none.estimate_query == query
        prom.results[query] = [vector(80.0)]  # the busiest pod served 80 req/s at its peak
        enough = from_telemetry(client, pods, [WEST], 2, 100.0, same_model=True)
        assert enough.ok and enough.estimated_rps == 160.0 and enough.required_rps == 125.0, enough.reason
        short = from_telemetry(client, pods, [WEST], 2, 140.0, same_model=True)
        assert not short.ok and "160 req/s" in short.reason and "175 req/s required" in short.reason
        assert not from_telemetry(client, pods, [WEST], 1, 10.0, same_model=True).ok  # a standby pod not ready
        assert "same model version" in from_telemetry(client, pods, [WEST], 2, 10.0, same_model=False).reason


def test_golden_answers_are_recorded_from_the_users_endpoint_for_a_captured_trace(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    from drillkit.trace import read_trace
    from drillkit.workload.golden import ATTACHED, golden_of_attached
    from drillkit.workload.record import record_environment
    from drillkit.workload.trace import trace_requests, write_kserve
    from tests.fakes.http import serve
    from tests.fakes.ranker import ranker
    from tests.unit.test_kserve_trace import rows

    trace = trace_requests(read_trace(write_kserve(rows(6), tmp_path / "captured.jsonl")))
    with serve(ranker()) as endpoint:
        platform = attached(tmp_path, fakes, gateway={"external": {"url": endpoint}})
        with pytest.raises(SpecError, match="--trace"):
            record_environment(platform, count=2)
        done = record_environment(platform, count=2, trace=trace)
    assert done.node == "gateway" and len(done.golden.probes) == 2 and done.golden.manifest_sha256 == ATTACHED
    version_dir = tmp_path / "state" / "models" / "v1"
    loaded = golden_of_attached(version_dir)  # what drills judge the answers by
    assert [(p.model, [t.array.tolist() for t in p.outputs]) for p in loaded.probes] == \
        [(p.model, [t.array.tolist() for t in p.outputs]) for p in done.golden.probes]
    assert not [c for k in fakes.values() for c in k.writes()]  # recording touched no cluster


def test_recover_from_another_machine_finds_every_fault_on_the_objects_themselves(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    here = attached(tmp_path / "here", fakes, images={"drillkit": "registry.example/drillkit:1.0"})
    before = {r: _pods_and_nodes(k) for r, k in fakes.items()}
    here.stop_region(EAST)
    here.pause_node("eu-west-1-1")
    fakes[WEST].controllers["StatefulSet"](fakes[WEST], fakes[WEST].objects[STATEFULSET])
    here.inject_gpu_fault("eu-west-1-0", 48)
    fakes[WEST].controllers["StatefulSet"](fakes[WEST], fakes[WEST].objects[STATEFULSET])
    here.set_network_fault("eu-west-1-1", Fault(blackhole=True))
    here.start_hog("hog-memory-eu-west-1-1", "eu-west-1-1", "memory", 0.5, 60)
    # Another machine: the same environment file, but no undo log and no attach record.
    _, env_file = attach_environment(tmp_path / "there", {CONTEXTS[r]: k.url for r, k in fakes.items()})
    shown = CliRunner().invoke(app, ["recover", "--env", str(env_file), "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)["found_on_objects"]
    assert f"{EAST}: scaled back to 3 replicas" in found and any("unmarked (attached.drillkit.io/gpu-eu-west-1-0)" in f for f in found)
    assert any("partition of eu-west-1-1 cleared" in f for f in found) and any("hog pod" in f for f in found)
    after = {r: _pods_and_nodes(k) for r, k in fakes.items()}
    for region in fakes:
        assert len(after[region][0]) == len(before[region][0]) and after[region][1:] == before[region][1:], (region, after[region])
    again = CliRunner().invoke(app, ["recover", "--env", str(env_file), "--json"])
    assert again.exit_code == 0 and json.loads(again.output) == {"undone": [], "found_on_objects": []}  # nothing left to find
