"""Region and environment names are RFC 1123 labels, hyphens included, everywhere a name travels.

Real region names (``us-east-1``, ``europe-west4``) are validated, refused when ambiguous or
too long, and then followed: the HAProxy configuration (``haproxy -c``), the Prometheus
configuration (``promtool check config``), the PromQL built from them (parsed and evaluated
by ``promtool test rules`` against series named as HAProxy's exporter names them), fault
targets, and every Kubernetes object name and label, at the longest names allowed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from drillkit.chaos.context import targets
from drillkit.errors import SpecError
from drillkit.gateway import Backend, render_config, write_config
from drillkit.netfault.faults import Fault
from drillkit.observe import NodeTarget, ScrapePlan, promql
from drillkit.observe import render_config as render_prometheus
from drillkit.observe.validate import check_syntax
from drillkit.platforms.k8s import meta
from drillkit.platforms.k8s.node_faults import mark_key
from drillkit.platforms.k8s.render_faults import hog_pod, network_chaos, partition_policy
from drillkit.platforms.k8s.render_gateway import CONFIG_DIR, SOCKET_DIR, gateway_manifests, haproxy_config, haproxy_files
from drillkit.platforms.k8s.render_load import LoadJob, load_manifests
from drillkit.platforms.k8s.render_region import namespace_manifest, region_manifests
from drillkit.platforms.k8s.run import new_run
from drillkit.platforms.kubernetes import KubernetesPlatform
from drillkit.spec import EnvironmentSpec, RegionRole, load_environment
from drillkit.spec.names import ENVIRONMENT_MAX, REGION_MAX
from drillkit.spec.slo import SloCheck
from tests.fakes.kube_api import write_kubeconfig
from tests.fakes.kube_env import kube_document
from tests.unit.test_gateway_config import haproxy_check, plan

REGIONS = (("us-east-1", "primary"), ("europe-west4", "standby"), ("eu-west-1", "standby"))
needs_haproxy = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by `make setup`")
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make setup installs it)")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label (most object names)
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # RFC 1035 label (Service names)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def local_document(regions: tuple[tuple[str, str], ...] = REGIONS, name: str = "prod-eu", nodes: int = 2) -> dict[str, Any]:
    return {"name": name, "regions": [{"name": r, "role": role, "nodes": nodes} for r, role in regions]}


def error_for(tmp_path: Path, document: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_environment(write(tmp_path, document))
    return caught.value


def kube_spec(tmp_path: Path, regions: tuple[tuple[str, str], ...] = REGIONS, name: str = "prod-eu",
              nodes: int = 2) -> EnvironmentSpec:  # fmt: skip
    """A Kubernetes environment with one cluster per region (a real file, the one loader)."""
    contexts = {r: f"kind-{i}" for i, (r, _) in enumerate(regions)}
    clusters = [{"region": r, "context": contexts[r], "node_port": 30800 + i, "address": f"172.18.0.{i + 2}:{30800 + i}"}
                for i, (r, _) in enumerate(regions)]  # fmt: skip
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {c: "http://127.0.0.1:9" for c in contexts.values()})
    document = kube_document(tmp_path / "state", kubeconfig, clusters=clusters, service_monitor=True, chaos_mesh=True,
                             gateway={"deploy": {"context": "kind-0", "url": "http://172.18.0.2:30080", "node_port": 30080}})  # fmt: skip
    document |= local_document(regions, name, nodes)
    return load_environment(write(tmp_path, document))


# --- validation ---------------------------------------------------------------------------


def test_real_region_names_with_hyphens_validate(tmp_path: Path) -> None:
    spec = load_environment(write(tmp_path, local_document()))
    assert spec.name == "prod-eu" and spec.primary.name == "us-east-1"
    assert [r.name for r in spec.standbys] == ["europe-west4", "eu-west-1"]
    assert spec.primary.node_names() == ["us-east-1-0", "us-east-1-1"]
    assert load_environment(write(tmp_path, local_document((("1a", "primary"), ("2b", "standby"))))).primary.name == "1a"


def test_a_region_named_like_another_regions_node_is_refused(tmp_path: Path) -> None:
    # region a (2 nodes) has nodes a-0, a-1: a region a-1 would make the fault target "a-1" ambiguous
    for regions in ((("a", "primary"), ("a-1", "standby")), (("a-1", "primary"), ("a", "standby"))):
        error = error_for(tmp_path, local_document(regions))
        assert error.field == "regions"
        assert "'a-1' is the name of node 1 of region 'a'" in error.problem and "ambiguous" in error.problem
        assert "rename one of the two regions, e.g. 'a1'" in error.problem
    # also past the region's node count: a scale-up would create the node, and servers a-<i> would mislead
    assert "node 7 of region 'a'" in error_for(tmp_path, local_document((("a", "primary"), ("a-7", "standby")))).problem
    # a hyphen alone is no node name: a and a-b, or us-east-1 and us-east-10, are fine
    load_environment(write(tmp_path, local_document((("a", "primary"), ("a-b", "standby"), ("us-east-1", "standby"),
                                                     ("us-east-10", "standby")))))  # fmt: skip


def test_too_long_names_are_refused_naming_the_limit(tmp_path: Path) -> None:
    longest = "r" * REGION_MAX
    load_environment(write(tmp_path, local_document(((longest, "primary"), ("b", "standby")), name="e" * ENVIRONMENT_MAX)))
    error = error_for(tmp_path, local_document(((longest + "x", "primary"), ("b", "standby"))))
    assert error.field == "regions[0].name"
    assert f"has {REGION_MAX + 1} characters; at most {REGION_MAX} fit" in error.problem and "63-character DNS labels" in error.problem
    error = error_for(tmp_path, local_document(name="e" * (ENVIRONMENT_MAX + 1)))
    assert error.field == "name" and f"at most {ENVIRONMENT_MAX} fit" in error.problem


def test_the_environment_name_starts_with_a_letter_as_service_names_must(tmp_path: Path) -> None:
    assert load_environment(write(tmp_path, local_document(name="eu-2"))).name == "eu-2"
    for bad in ("2eu", "eu-", "EU", "eu_2"):
        error = error_for(tmp_path, local_document(name=bad))
        assert error.field == "name" and "not an RFC 1035 label" in error.problem, bad


def test_slo_regions_follow_the_same_rule() -> None:
    adapter: TypeAdapter[SloCheck] = TypeAdapter(SloCheck)
    share = {"name": "c", "kind": "traffic_share", "max_share": 0.05}
    assert adapter.validate_python({**share, "region": "eu-west-1"}).region == "eu-west-1"  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="not an RFC 1123 label"):
        adapter.validate_python({**share, "region": 'eu"} or up{x="'})


def test_names_that_would_collide_on_kubernetes_are_refused_there_only(tmp_path: Path) -> None:
    for regions, clash in (((("us-east-1", "primary"), ("gateway", "standby")), "the gateway's Service prod-eu-gateway"),
                           ((("us-east-1", "primary"), ("us-east-1-pods", "standby")), "headless Service prod-eu-us-east-1-pods"),
                           ((("us-east-1", "primary"), ("hog-memory-us-east-1", "standby")), "GPU hog pods")):  # fmt: skip
        with pytest.raises(SpecError, match=re.escape(clash)):
            kube_spec(tmp_path, regions)
        load_environment(write(tmp_path, local_document(regions)))  # nothing is named after them locally


def test_fault_targets_resolve_hyphenated_regions_and_nodes(tmp_path: Path) -> None:
    platform = KubernetesPlatform(kube_spec(tmp_path))
    assert targets(platform, "eu-west-1") == ["eu-west-1-0", "eu-west-1-1"]
    assert targets(platform, "us-east-1-1") == ["us-east-1-1"]
    assert platform.region_of("europe-west4-0") == "europe-west4"
    with pytest.raises(SpecError, match="no region or node 'us-east'"):
        targets(platform, "us-east")


# --- the gateway --------------------------------------------------------------------------


def local_backends(spec: EnvironmentSpec) -> tuple[Backend, ...]:
    """As ``local_start`` builds them: one server per node, standbys as backups."""
    return tuple(Backend(n, r.name, 9001 + i * 16 + j, backup=r.role is RegionRole.STANDBY)
                 for i, r in enumerate(spec.regions) for j, n in enumerate(r.node_names()))  # fmt: skip


@needs_haproxy
def test_haproxy_accepts_the_config_and_map_for_hyphenated_names(tmp_path: Path) -> None:
    backends = local_backends(load_environment(write(tmp_path, local_document())))
    p = plan(tmp_path, backends)
    write_config(p, tmp_path / "haproxy.cfg")
    config = render_config(p)
    assert "    server us-east-1-0 127.0.0.1:9001 check\n" in config
    assert "    server europe-west4-1 127.0.0.1:9018 check backup\n" in config
    assert "us-east-1-1 us-east-1\n" in p.region_map.read_text() and "eu-west-1-0 eu-west-1\n" in p.region_map.read_text()
    (tmp_path / "haproxy.cfg").write_text(config)
    check = haproxy_check(tmp_path / "haproxy.cfg")
    assert check.returncode == 0, check.stdout + check.stderr


@needs_haproxy
def test_haproxy_accepts_the_kubernetes_gateway_config_with_servers_named_after_regions(tmp_path: Path) -> None:
    config, region_map = haproxy_config(kube_spec(tmp_path))
    assert "    server eu-west-1 172.18.0.4:30802 check backup\n" in config
    assert region_map == "us-east-1 us-east-1\neurope-west4 europe-west4\neu-west-1 eu-west-1\n"
    for name, text in haproxy_files(kube_spec(tmp_path)).items():  # the ConfigMap's files
        (tmp_path / name).write_text(text)
    local = config.replace(CONFIG_DIR, str(tmp_path)).replace(SOCKET_DIR, str(tmp_path))  # the pod's paths, here
    (tmp_path / "haproxy.cfg").write_text(local)
    check = haproxy_check(tmp_path / "haproxy.cfg")
    assert check.returncode == 0, check.stdout + check.stderr


# --- Prometheus and PromQL ----------------------------------------------------------------


@needs_promtool
def test_the_prometheus_config_labels_nodes_with_hyphenated_names(tmp_path: Path) -> None:
    spec = load_environment(write(tmp_path, local_document()))
    nodes = tuple(NodeTarget(n, r.name, 9100 + i) for i, (n, r) in enumerate((n, r) for r in spec.regions for n in r.node_names()))
    text = render_prometheus(ScrapePlan(interval_s=1.0, nodes=nodes, gateway_stats_port=8404, loadgen_dir=tmp_path / "lg"))
    triton = yaml.safe_load(text)["scrape_configs"][0]["static_configs"]
    assert triton[0]["labels"] == {"region": "us-east-1", "node": "us-east-1-0"}
    assert triton[-1]["labels"] == {"region": "eu-west-1", "node": "eu-west-1-1"}
    (tmp_path / "prometheus.yml").write_text(text)
    check = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_label_values_are_quoted_and_escaped_and_regexes_escaped_only_where_special() -> None:
    assert promql.string("us-east-1") == '"us-east-1"'
    assert promql.string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert promql.literal_regex("us-east-1") == "us-east-1"  # '-' is special only inside a character class
    assert promql.literal_regex("a.b+(c)") == "a\\.b\\+\\(c\\)"
    assert promql.backends_up("eu-west-1") == 'sum(haproxy_server_status{proxy="triton",state="UP",server=~"eu-west-1(-[0-9]+)?"})'
    assert 'region="europe-west4"' in promql.traffic_share("europe-west4", 10)
    assert 'nv_inference_queue_duration_us{region="us-east-1"}' in promql.queue_time_ms(10, "us-east-1")


@needs_promtool
def test_every_query_built_from_hyphenated_names_parses() -> None:
    regions = [r for r, _ in REGIONS]
    queries = {f"backends_up {r}": promql.backends_up(r) for r in regions}
    queries |= {f"share {r}": promql.traffic_share(r, 10) for r in regions}
    queries |= {f"queue {r}": promql.queue_time_ms(10, r) for r in regions}
    queries |= {name: q for name, (q, _) in promql.journal_series(2.0, regions).items()}
    queries["escaped"] = "up{x=" + promql.string('a"b\\c') + "}"
    check_syntax(queries, file="test.yaml")


def status(server: str) -> str:
    return f'haproxy_server_status{{proxy="triton",state="UP",server="{server}"}}'


def evaluate(tmp_path: Path, series: dict[str, str], tests: list[tuple[str, list[tuple[str, float]]]]) -> None:
    """Evaluate each (query, expected samples) with ``promtool test rules`` over ``series`` (1 m steps, at 5 m)."""
    document = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "promql_expr_test": [{"expr": q, "eval_time": "5m", "exp_samples": [{"labels": labels, "value": value} for labels, value in samples]}
                             for q, samples in tests]}]}  # fmt: skip
    path = tmp_path / "promql-test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_gateway_queries_count_each_hyphenated_regions_own_servers_on_both_platforms(tmp_path: Path) -> None:
    regions = [r for r, _ in REGIONS]
    by_region = promql.backends_up_by_region(regions)
    # local: one server per node, <region>-<index>
    local = {status("us-east-1-0"): "1x5", status("us-east-1-1"): "1x5", status("europe-west4-0"): "0x5",
             status("europe-west4-1"): "1x5", status("eu-west-1-0"): "1x5", status("eu-west-1-1"): "0x5"}  # fmt: skip
    expected = [('{region="us-east-1"}', 2), ('{region="europe-west4"}', 1), ('{region="eu-west-1"}', 1)]
    evaluate(tmp_path, local, [(promql.backends_up("us-east-1"), [("{}", 2)]), (promql.backends_up("eu-west-1"), [("{}", 1)]),
                               (by_region, expected), (promql.backends_up_by_region(), expected)])  # fmt: skip
    # Kubernetes: one server per region, named after it (us-east-1 must not read as node 1 of us-east)
    k8s = {status("us-east-1"): "1x5", status("europe-west4"): "0x5", status("eu-west-1"): "1x5"}
    evaluate(tmp_path, k8s, [(promql.backends_up("us-east-1"), [("{}", 1)]), (promql.backends_up("europe-west4"), [("{}", 0)]),
                             (by_region, [('{region="us-east-1"}', 1), ('{region="europe-west4"}', 0), ('{region="eu-west-1"}', 1)])])  # fmt: skip


@needs_promtool
def test_traffic_share_selects_the_hyphenated_region_label(tmp_path: Path) -> None:
    ok = 'drillkit_client_request_seconds_count{{outcome="ok",region="{}"}}'
    series = {ok.format("us-east-1"): "0+60x10", ok.format("eu-west-1"): "0+180x10"}  # 1/s and 3/s
    evaluate(tmp_path, series, [(promql.traffic_share("us-east-1", 120), [("{}", 0.25)]),
                                (promql.traffic_share("eu-west-1", 120), [("{}", 0.75)])])  # fmt: skip


# --- Kubernetes objects -------------------------------------------------------------------


def label_maps(doc: Any, key: str = "") -> list[dict[str, str]]:
    """Every label map in a manifest: metadata labels, selectors, Chaos Mesh's labelSelectors."""
    found = []
    if isinstance(doc, dict):
        if key in ("labels", "matchLabels", "labelSelectors") or (key == "selector" and all(isinstance(v, str) for v in doc.values())):
            found.append(doc)
        else:
            for k, v in doc.items():
                found += label_maps(v, k)
    elif isinstance(doc, list):
        for item in doc:
            found += label_maps(item, key)
    return found


def assert_valid_names(doc: dict[str, Any]) -> None:
    name, kind = doc["metadata"]["name"], doc["kind"]
    assert len(name) <= 63 and DNS_LABEL.match(name), f"{kind} {name}"
    if kind == "Service":
        assert DNS_1035.match(name), f"Service {name} must start with a letter"
    if kind == "StatefulSet":
        assert len(name) <= 52, f"StatefulSet {name}: its controller-revision-hash label would not fit"
        for ordinal in range(doc["spec"]["replicas"]):
            assert len(f"{name}-{ordinal}") <= 63 and DNS_LABEL.match(f"{name}-{ordinal}")
    for labels in label_maps(doc):
        for k, v in labels.items():
            prefix, _, label = k.rpartition("/")
            assert len(label) <= 63 and LABEL_NAME.match(label) and len(prefix) <= 253, f"{kind} {name}: label key {k}"
            assert len(v) <= 63 and LABEL_VALUE.match(v), f"{kind} {name}: label {k}={v}"
    if kind not in ("ServiceMonitor", "NetworkChaos"):  # CRDs: test_kubernetes_render checks them against their schemas
        kubernetes_validate.validate(doc, "1.37", strict=True)


def every_manifest(spec: EnvironmentSpec, run: str) -> list[dict[str, Any]]:
    last = spec.regions[-1].node_names()[-1]
    job = LoadJob(id="a1b2c3", workers=4, trace_name="drill.parquet", trace=b"PAR1", host="http://gateway:8080")
    return [namespace_manifest(spec, run), *[d for r in spec.regions for d in region_manifests(spec, run, r.name)],
            *gateway_manifests(spec, run), partition_policy(spec, run, last),
            *network_chaos(spec, run, last, Fault(latency_ms=10, bandwidth_kbps=64)),
            hog_pod(spec, run, handle=f"hog-compute-{last}", node=last, host="gpu-1", kind="compute", level=1, duration_s=60),
            *load_manifests(spec, run, job)]  # fmt: skip


def test_kubernetes_objects_for_hyphenated_regions_have_valid_names_and_find_their_pods(tmp_path: Path) -> None:
    spec = kube_spec(tmp_path)
    run = new_run(spec.name, now=0).run
    docs = every_manifest(spec, run)
    for doc in docs:
        assert_valid_names(doc)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert len(names) == len(docs)  # no two objects of a kind share a name
    assert ("StatefulSet", "prod-eu-us-east-1") in names and ("Service", "prod-eu-eu-west-1-pods") in names
    # a fault finds the node's pod by the pod-name label the StatefulSet controller sets: <sts>-<ordinal>
    policy = partition_policy(spec, run, "us-east-1-1")
    assert policy["spec"]["podSelector"]["matchLabels"][meta.POD_NAME] == f"{meta.statefulset_name(spec.name, 'us-east-1')}-1"
    # the ServiceMonitor turns the pod name back into the node name (Prometheus regexes are anchored)
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor" and d["metadata"]["name"] == "prod-eu-eu-west-1")
    relabel = monitor["spec"]["endpoints"][0]["relabelings"][1]
    found = re.fullmatch(relabel["regex"], "prod-eu-eu-west-1-1")
    assert found and found.expand(relabel["replacement"].replace("$1", r"\1")) == "eu-west-1-1"
    assert monitor["spec"]["endpoints"][0]["relabelings"][0]["replacement"] == "eu-west-1"


def test_the_longest_names_allowed_still_make_valid_kubernetes_names(tmp_path: Path) -> None:
    env, primary, standby = "e" * ENVIRONMENT_MAX, "p" * REGION_MAX, "s" * (REGION_MAX - 1) + "1"
    spec = kube_spec(tmp_path, ((primary, "primary"), (standby, "standby")), name=env, nodes=16)
    run = new_run(spec.name, now=0).run
    docs = every_manifest(spec, run)
    for doc in docs:
        assert_valid_names(doc)
    hog = next(d for d in docs if d["kind"] == "Pod")
    assert len(hog["metadata"]["name"]) == 63  # the longest derivation: the limits leave no character over
    for fault in ("drain", "gpu"):  # a node's fault mark: <env>.drillkit.io/<fault>-<node>, a qualified label key
        prefix, _, label = mark_key(env, fault, f"{standby}-15").partition("/")
        assert all(DNS_LABEL.match(part) for part in prefix.split(".")) and len(prefix) <= 253
        assert len(label) <= 63 and LABEL_NAME.match(label)
