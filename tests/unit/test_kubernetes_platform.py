"""The Kubernetes platform's up / status / down against two fake API servers (one per region).

The official client talks real HTTP to in-process fakes through a kubeconfig; the tests
assert the exact requests: server-side applies of the rendered manifests, label selectors
on every list that precedes a delete, and that nothing outside the spec's contexts is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillkit.errors import SpecError, StartupError
from drillkit.platforms import open_platform
from drillkit.platforms.base import ComponentKind, Health
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.render_gateway import gateway_manifests
from drillkit.platforms.k8s.render_region import namespace_manifest, region_manifests
from drillkit.platforms.kubernetes import KubernetesPlatform
from tests.fakes.kube_api import APPLY, FakeKube, fake_kube
from tests.fakes.kube_env import CONTEXTS, kube_environment
from tests.fakes.kube_objects import (
    deployment_controller,
    ready_pod,
    statefulset_controller,
)

NS = "drills"
APPLY_QUERY = {"fieldManager": "drillkit", "force": "true"}
STATS = "/api/v1/namespaces/drills/services/k8s-gateway-stats:stats/proxy/stats;csv;norefresh"
CSV = ("# pxname,svname,status,bck,check_status,scur,stot,\n"
       "gateway,FRONTEND,OPEN,,,0,10,\ntriton,primary,DOWN,0,L4CON,0,7,\ntriton,standby,UP,1,L7OK,2,3,\ntriton,BACKEND,UP,0,,2,10,\n")  # fmt: skip


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeKube]]:
    with fake_kube() as a, fake_kube() as b:
        for kube in (a, b):
            kube.controllers["StatefulSet"] = statefulset_controller(lambda sts, i: f"{sts}-gpu-{i}")
            kube.controllers["Deployment"] = deployment_controller
        yield {"primary": a, "standby": b}


def make_platform(tmp_path: Path, fakes: dict[str, FakeKube], **kubernetes: Any) -> KubernetesPlatform:
    urls = {CONTEXTS[region]: kube.url for region, kube in fakes.items()}
    kubernetes.setdefault("model_repository", {"pvc": "models"})
    spec = kube_environment(tmp_path, urls, **kubernetes)
    return KubernetesPlatform(spec, spec_file=str(tmp_path / "env.yaml"), poll_s=0.001)


def applied(kube: FakeKube) -> list[tuple[str, str]]:
    """(kind, name) of every server-side apply, in order; each one with the apply query and type."""
    calls = [c for c in kube.calls_of("PATCH") if c.content_type == APPLY]
    assert all(c.query == APPLY_QUERY for c in calls)
    return [(c.body["kind"], c.body["metadata"]["name"]) for c in calls]


def test_up_applies_every_rendered_manifest_in_its_own_context_and_waits(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    status = platform.up()
    run = platform.run().run
    primary, standby = fakes["primary"], fakes["standby"]
    expected_a = [namespace_manifest(platform.spec, run), *region_manifests(platform.spec, run, "primary"), *gateway_manifests(platform.spec, run)]
    expected_b = [namespace_manifest(platform.spec, run), *region_manifests(platform.spec, run, "standby")]
    assert [c.body for c in primary.calls_of("PATCH")] == expected_a  # exactly what was rendered, nothing else
    assert [c.body for c in standby.calls_of("PATCH")] == expected_b
    assert applied(primary) == [("Namespace", NS), ("StatefulSet", "k8s-primary"), ("Service", "k8s-primary-pods"),
                                ("Service", "k8s-primary"), ("PodDisruptionBudget", "k8s-primary"), ("ConfigMap", "k8s-gateway"),
                                ("Deployment", "k8s-gateway"), ("Service", "k8s-gateway"), ("Service", "k8s-gateway-stats")]  # fmt: skip
    assert primary.calls_of("PATCH")[1].path == "/apis/apps/v1/namespaces/drills/statefulsets/k8s-primary"
    assert not primary.calls_of("DELETE", "POST") and not standby.calls_of("DELETE", "POST")
    assert {c.authorization for c in primary.calls + standby.calls} == {"Bearer test-token"}  # the kubeconfig's user
    assert status.up and [n.health for n in status.nodes()] == [Health.READY] * 4
    assert status.gateway_url == "http://172.18.0.2:30080" and status.prometheus_url == "http://127.0.0.1:9090"


def test_a_second_up_sends_the_same_requests_and_keeps_the_run(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    platform.up()
    run = platform.run().run
    first = {r: [(c.method, c.path, c.query, c.body) for c in k.calls] for r, k in fakes.items()}
    for kube in fakes.values():
        kube.clear()
    platform.up()
    assert {r: [(c.method, c.path, c.query, c.body) for c in k.calls] for r, k in fakes.items()} == first
    assert platform.run().run == run


def test_every_created_object_carries_the_run_and_environment_labels(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    platform.up()
    run = platform.run().run
    for kube in fakes.values():
        for call in kube.calls_of("PATCH"):
            labels = call.body["metadata"]["labels"]
            assert (labels[meta.RUN], labels[meta.ENVIRONMENT], labels[meta.MANAGED_BY]) == (run, "k8s", "drillkit")
        for pod in (o for p, o in kube.objects.items() if "/pods/" in p):  # pods the StatefulSet made
            assert pod["metadata"]["labels"][meta.RUN] == run


def test_down_deletes_only_what_the_labels_select_then_the_namespace(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    platform.up()
    run = platform.run().run
    primary = fakes["primary"]
    primary.put("/api/v1/namespaces/drills/configmaps/someone-elses", {"kind": "ConfigMap", "metadata": {"name": "someone-elses", "namespace": NS}})
    for kube in fakes.values():
        kube.clear()
    deleted = platform.down()
    selector = f"app.kubernetes.io/managed-by=drillkit,drillkit.io/environment=k8s,drillkit.io/run={run}"
    lists = [c for c in primary.calls_of("GET") if c.path.endswith(("s", "networkchaos")) and "labelSelector" in c.query]
    assert {c.query["labelSelector"] for c in lists} == {selector, selector + ",app.kubernetes.io/component=hog"}
    assert [c.path for c in primary.calls_of("DELETE")] == [
        "/apis/apps/v1/namespaces/drills/deployments/k8s-gateway", "/apis/apps/v1/namespaces/drills/statefulsets/k8s-primary",
        "/apis/policy/v1/namespaces/drills/poddisruptionbudgets/k8s-primary", "/api/v1/namespaces/drills/services/k8s-gateway",
        "/api/v1/namespaces/drills/services/k8s-gateway-stats", "/api/v1/namespaces/drills/services/k8s-primary",
        "/api/v1/namespaces/drills/services/k8s-primary-pods", "/api/v1/namespaces/drills/configmaps/k8s-gateway",
        "/api/v1/namespaces/drills"]  # fmt: skip
    assert all(c.body == {"propagationPolicy": "Background"} for c in primary.calls_of("DELETE"))
    assert "/api/v1/namespaces/drills/configmaps/someone-elses" in primary.objects
    assert "kind-drill-b/StatefulSet/k8s-standby" in deleted and "kind-drill-a/Namespace/drills" in deleted
    assert not platform.status().up and not platform.run_path.exists()


def test_down_without_a_run_record_still_selects_by_environment_only(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    platform.up()
    platform.run_path.unlink()  # e.g. `down` from another machine
    fakes["primary"].clear()
    platform.down()
    selectors = {c.query["labelSelector"] for c in fakes["primary"].calls_of("GET") if "labelSelector" in c.query}
    assert selectors == {"app.kubernetes.io/managed-by=drillkit,drillkit.io/environment=k8s",
                         "app.kubernetes.io/managed-by=drillkit,drillkit.io/environment=k8s,app.kubernetes.io/component=hog"}  # fmt: skip
    assert not any("/statefulsets/" in p for p in fakes["primary"].objects)


def test_an_existing_namespace_that_is_not_drillkits_is_refused_before_any_write(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    fakes["standby"].put("/api/v1/namespaces/drills", {"kind": "Namespace", "metadata": {"name": NS, "labels": {"team": "search"}}})
    platform = make_platform(tmp_path, fakes)
    with pytest.raises(SpecError, match="set kubernetes.create_namespace: false"):
        platform.up()
    assert not fakes["standby"].writes()
    platform.down()
    assert "/api/v1/namespaces/drills" in fakes["standby"].objects  # never deleted: not drillkit's


def test_a_context_that_looks_like_production_needs_an_explicit_allow(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    clusters = [{"region": "primary", "context": "kind-drill-a", "address": "10.0.0.1:30800"},
                {"region": "standby", "context": "gke_shop_prod-eu", "address": "10.0.0.2:30800"}]  # fmt: skip
    urls = {"kind-drill-a": fakes["primary"].url, "gke_shop_prod-eu": fakes["standby"].url}
    spec = kube_environment(tmp_path, urls, clusters=clusters, model_repository={"pvc": "models"})
    with pytest.raises(SpecError, match="pass --allow-context gke_shop_prod-eu"):
        KubernetesPlatform(spec, poll_s=0.001).up()
    assert not fakes["standby"].calls
    platform = KubernetesPlatform(spec, poll_s=0.001, allow_contexts=["gke_shop_prod-eu"])
    assert platform.up().up and fakes["standby"].writes()


def test_a_harmless_context_name_on_a_production_cluster_is_refused_too(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    from tests.fakes.kube_api import write_kubeconfig

    spec = kube_environment(tmp_path, model_repository={"pvc": "models"})
    assert spec.kubernetes is not None and spec.kubernetes.kubeconfig is not None
    write_kubeconfig(spec.kubernetes.kubeconfig, {c: fakes["primary"].url for c in CONTEXTS.values()},
                     clusters={"kind-drill-b": "eks-live-1"})  # fmt: skip
    with pytest.raises(SpecError, match="'kind-drill-b' looks like production \\('eks-live-1'\\)"):
        KubernetesPlatform(spec).up()


def test_only_the_specs_contexts_get_a_client(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    with pytest.raises(SpecError, match="context 'kind-other' is not part of this environment"):
        platform.clusters.context("kind-other")


def test_up_reports_why_pods_are_not_ready_and_leaves_them_for_inspection(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    del fakes["standby"].controllers["StatefulSet"]
    pending = ready_pod("k8s-standby-0", NS, {meta.NAME: "drillkit-triton", meta.ENVIRONMENT: "k8s", meta.REGION: "standby"}, "", ready=False)
    pending["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                              "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}  # fmt: skip
    fakes["standby"].put("/api/v1/namespaces/drills/pods/k8s-standby-0", pending)
    clock = iter(range(1000))
    platform = make_platform(tmp_path, fakes)
    platform.clock = lambda: float(next(clock))
    with pytest.raises(StartupError, match=r"region standby: 0/2 pods ready \(k8s-standby-0: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.\)"):
        platform.up()
    assert not fakes["standby"].calls_of("DELETE")
    assert platform.run_path.exists()  # `down` knows the run to remove


def test_status_maps_pods_to_nodes_with_proxy_urls_and_the_gateways_view(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    clusters = [{"region": "primary", "context": "kind-drill-a", "address": "10.0.0.1:30800", "proxy_url": "http://127.0.0.1:8001"},
                {"region": "standby", "context": "kind-drill-b", "address": "10.0.0.2:30800"}]  # fmt: skip
    platform = make_platform(tmp_path, fakes, clusters=clusters)
    platform.up()
    primary = fakes["primary"]
    primary.texts[STATS] = CSV
    pod = primary.objects["/api/v1/namespaces/drills/pods/k8s-primary-1"]
    pod["status"]["conditions"][0]["status"] = "False"
    del fakes["standby"].objects["/api/v1/namespaces/drills/pods/k8s-standby-0"]
    status = platform.status()
    rows = {n.name: n for n in status.nodes()}
    assert {n: r.health for n, r in rows.items()} == {"primary-0": Health.READY, "primary-1": Health.STARTING,
                                                      "standby-0": Health.DEAD, "standby-1": Health.READY}  # fmt: skip
    assert rows["primary-0"].endpoint == "http://127.0.0.1:8001/api/v1/namespaces/drills/pods/k8s-primary-0:8000/proxy"
    assert rows["primary-0"].metrics_url == "http://127.0.0.1:8001/api/v1/namespaces/drills/pods/k8s-primary-0:8002/proxy/metrics"
    assert rows["standby-1"].endpoint is None
    assert {n: r.gateway_state for n, r in rows.items()} == {"primary-0": "DOWN", "primary-1": "DOWN", "standby-0": "UP", "standby-1": "UP"}
    assert platform.gateway_states() == {"primary-0": "DOWN", "primary-1": "DOWN", "standby-0": "UP", "standby-1": "UP"}
    gateway = next(c for c in status.components if c.kind is ComponentKind.GATEWAY)
    assert (gateway.name, gateway.health) == ("k8s-gateway", Health.READY)


def test_an_unreadable_gateway_gives_no_states(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    platform.up()
    assert platform.gateway_states() == {}  # the service proxy answers 404: no view, no crash


def test_open_platform_picks_kubernetes_and_honours_the_allow_variable(tmp_path: Path, fakes: dict[str, FakeKube],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    spec = kube_environment(tmp_path, model_repository={"pvc": "models"})
    monkeypatch.setenv("DRILLKIT_ALLOW_CONTEXTS", "gke_a_prod, kind-x")
    platform = open_platform(spec, allow_contexts=["eks-live"])
    assert isinstance(platform, KubernetesPlatform)
    assert platform.clusters.allow == {"eks-live", "gke_a_prod", "kind-x"}
    assert platform.node_names("standby") == ["standby-0", "standby-1"] and platform.node_names("nowhere") == []


def test_a_second_down_while_things_terminate_deletes_nothing_twice(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    platform = make_platform(tmp_path, fakes)
    platform.up()
    standby = fakes["standby"]
    for path in ("/api/v1/namespaces/drills", "/apis/apps/v1/namespaces/drills/statefulsets/k8s-standby"):
        standby.objects[path]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"  # still terminating
    standby.clear()
    deleted = platform.down()
    assert [c.path for c in standby.calls_of("DELETE")] == [
        "/apis/policy/v1/namespaces/drills/poddisruptionbudgets/k8s-standby", "/api/v1/namespaces/drills/services/k8s-standby",
        "/api/v1/namespaces/drills/services/k8s-standby-pods"]  # fmt: skip
    assert "kind-drill-b/Namespace/drills" not in deleted


def test_it_is_a_platform_and_refuses_repository_faults_plainly(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    from drillkit.platforms.base import Platform

    platform = make_platform(tmp_path, fakes)
    assert isinstance(platform, Platform)
    with pytest.raises(SpecError, match="not available on Kubernetes.*run data-loss and restore drills on the local platform"):
        platform.region_repository("primary")
    assert not fakes["primary"].calls
