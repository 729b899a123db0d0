"""The shipped RBAC (drills/environments/rbac.yaml) is valid, allows every request drillkit makes,
and grants nothing drillkit does not use: the minimum verbs.

Every path of the platform runs against fake API servers (up, status, every fault and its
undo, a distributed load, down); each recorded request is turned into the (API group,
resource, verb) an authorizer would check, the way the API server does it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from drillkit.netfault.faults import Fault
from drillkit.platforms.k8s.load import run_load
from drillkit.platforms.k8s.render_load import LoadJob
from drillkit.platforms.k8s.results import archive_text
from drillkit.platforms.kubernetes import KubernetesPlatform
from tests.fakes.kube_api import FakeKube, fake_kube
from tests.fakes.kube_env import CONTEXTS, kube_environment
from tests.fakes.kube_objects import (  # fmt: skip
    deployment_controller,
    job_controller,
    node,
    statefulset_controller,
)

RBAC = Path("drills/environments/rbac.yaml")
_PATH = re.compile(r"^(?P<root>/api/v1|/apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
                   r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?")  # fmt: skip
# Requests a person's `kubectl proxy` makes for drills (clusters[].proxy_url), not drillkit itself.
USED_BY_KUBECTL_PROXY = {("", "pods/proxy", "get")}
Grant = tuple[str, str, str]  # (API group, resource[/subresource], verb)


def attributes(method: str, path: str, query: dict[str, str]) -> list[tuple[Grant, str | None]]:
    """What the authorizer checks for one request: [((group, resource, verb), namespace)]."""
    m = _PATH.match(path)
    assert m is not None, path
    group, resource = m["group"] or "", m["plural"] + (f"/{m['sub']}" if m["sub"] else "")
    if method == "GET":
        verbs = ["get"] if m["name"] else ["list"]
    elif method == "PATCH":
        verbs = ["patch", "create"] if "fieldManager" in query else ["patch"]  # an apply may create
    else:
        verbs = {"DELETE": ["delete"], "POST": ["create"]}[method]
    return [((group, resource, verb), m["ns"]) for verb in verbs]


def granted(docs: list[dict]) -> dict[str, set[Grant]]:  # type: ignore[type-arg]
    """Role / ClusterRole rules expanded to grants, by role kind."""
    out: dict[str, set[Grant]] = {"Role": set(), "ClusterRole": set()}
    for doc in docs:
        if doc["kind"] in out:
            for rule in doc["rules"]:
                out[doc["kind"]] |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeKube]]:
    with fake_kube() as a, fake_kube() as b:
        for region, kube in (("primary", a), ("standby", b)):
            kube.controllers["StatefulSet"] = statefulset_controller(lambda sts, i: f"{sts}-gpu")
            kube.controllers["Deployment"] = deployment_controller
            kube.controllers["Job"] = job_controller(lambda pod: archive_text(Path("/nonexistent"), pod))
            kube.put(f"/api/v1/nodes/k8s-{region}-gpu", node(f"k8s-{region}-gpu"))
            kube.put("/api/v1/namespaces/drillkit", {"kind": "Namespace", "metadata": {"name": "drillkit"}})  # rbac.yaml made it
        a.texts["/api/v1/namespaces/drillkit/services/k8s-gateway-stats:stats/proxy/stats;csv;norefresh"] = "# pxname,svname,status\n"
        yield {"primary": a, "standby": b}


def exercise_everything(tmp_path: Path, fakes: dict[str, FakeKube]) -> list[tuple[Grant, str | None]]:
    urls = {CONTEXTS[region]: kube.url for region, kube in fakes.items()}
    spec = kube_environment(tmp_path, urls, namespace="drillkit", create_namespace=False, service_monitor=True,
                            chaos_mesh=True, model_repository={"pvc": "models"})  # fmt: skip
    p = KubernetesPlatform(spec, poll_s=0.001)
    p.up()
    p.status()
    p.kill_node("primary-0")
    p.up()  # the controller brings it back
    p.stop_region("standby")
    p.restart_nodes(["standby-0", "standby-1"])
    p.pause_node("primary-1")
    p.resume_node("primary-1")
    p.up()
    p.inject_gpu_fault("standby-0", 79)
    fakes["standby"].controllers["StatefulSet"](fakes["standby"], fakes["standby"].objects["/apis/apps/v1/namespaces/drillkit/statefulsets/k8s-standby"])
    p.restart_nodes(["standby-0"])
    for fault in (Fault(blackhole=True), Fault(latency_ms=50), Fault()):
        p.set_network_fault("standby-1", fault)
    p.start_hog("hog-compute-primary-0", "primary-0", "compute", 1.0, 30)
    p.stop_hog("hog-compute-primary-0")
    job = LoadJob(id="abc123", workers=1, trace_name="t.csv", trace=b"offset_s,kind,user_id,query,k\n", host="http://x", duration_s=1)
    run_load(p, job, "kind-drill-a", tmp_path / "run")
    p.down()
    return [a for kube in fakes.values() for c in kube.calls for a in attributes(c.method, c.path, c.query)]


def test_the_rbac_manifests_are_valid() -> None:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    assert [d["kind"] for d in docs] == ["Namespace", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.29", strict=True)
        kubernetes_validate.validate(doc, "1.37", strict=True)


def test_every_request_is_allowed_and_every_rule_is_used(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    grants = granted(docs)
    used = exercise_everything(tmp_path, fakes)
    namespaced = {g for g, ns in used if ns is not None}
    cluster = {g for g, ns in used if ns is None}
    assert {ns for _, ns in used if ns is not None} == {"drillkit"}  # the Role's namespace, nothing else
    assert namespaced - grants["Role"] == set(), "drillkit makes requests the Role does not allow"
    assert cluster - grants["ClusterRole"] == set(), "drillkit makes requests the ClusterRole does not allow"
    assert grants["Role"] - namespaced - USED_BY_KUBECTL_PROXY == set(), "the Role grants verbs drillkit never uses"
    assert grants["ClusterRole"] - cluster == set(), "the ClusterRole grants verbs drillkit never uses"
    namespace_rule = next(r for d in docs if d["kind"] == "ClusterRole" for r in d["rules"] if "namespaces" in r["resources"])
    assert namespace_rule["resourceNames"] == ["drillkit"]
