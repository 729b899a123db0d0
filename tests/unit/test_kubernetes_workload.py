"""Your own Triton repository on Kubernetes: your image serves it, drillkit's verifies it first,
the gateway checks your models, and golden answers recorded later reach the gateway and the
local cache of another machine (fetched beside the manifest).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from drillkit.errors import ModelRepositoryError, SpecError, StartupError
from drillkit.model.fetch import fetch_version, main
from drillkit.model.repository import verify
from drillkit.platforms.k8s.render_region import region_manifests, triton_args
from drillkit.platforms.kubernetes import KubernetesPlatform
from drillkit.spec import load_environment
from drillkit.workload.golden import GoldenProbe, GoldenSet, Tolerance, load_golden, write_golden
from drillkit.workload.repository import snapshot
from drillkit.workload.tensors import Tensor
from tests.fakes.http import serve
from tests.fakes.kube_api import FakeKube, fake_kube
from tests.fakes.kube_env import CONTEXTS, kube_document
from tests.fakes.kube_objects import deployment_controller, statefulset_controller
from tests.fakes.ranker import rank
from tests.unit.test_kubernetes_fetch import _Quiet
from tests.unit.test_kubernetes_render import RUN, validate

RANKER = Path(__file__).parents[1] / "fixtures" / "ranker-repository"
IMAGE = "nvcr.io/nvidia/tritonserver:24.08-py3"


def ranker_env(tmp_path: Path, urls: dict[str, str] | None = None, *, workload: dict[str, Any] | None = None,
               platform: str = "kubernetes", **kubernetes: Any) -> Path:  # fmt: skip
    """The environment file of the ranker on two clusters (a PVC by default)."""
    from tests.fakes.kube_api import write_kubeconfig

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", urls or {c: "http://127.0.0.1:9" for c in CONTEXTS.values()})
    kubernetes.setdefault("model_repository", {"pvc": "models"})
    doc = kube_document(tmp_path / "state", kubeconfig, **kubernetes)
    doc["model"] = {"version": "r1"}
    doc["workload"] = workload if workload is not None else {"repository": str(RANKER), "image": IMAGE}
    if platform != "kubernetes":
        doc = {k: v for k, v in doc.items() if k not in ("kubernetes", "prometheus")} | {"platform": platform}
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def ranker_golden(version_dir: Path, *, manifest_sha256: str | None = None) -> GoldenSet:
    """Golden answers of the ranker snapshot at ``version_dir`` (what `golden record` writes)."""
    features = np.random.default_rng(1).standard_normal((1, 16)).astype(np.float32)
    score, top = rank(features)
    probe = GoldenProbe(0, "ranker", None, (Tensor.from_numpy("features", features),),
                        (Tensor.from_numpy("score", score), Tensor.from_numpy("top_features", top)))  # fmt: skip
    digest = manifest_sha256 or verify(version_dir).sha256
    return GoldenSet(version_dir.name, digest, (probe,), {"ranker": {"score": Tolerance(abs=1e-6)}}, "http://node", "2026-12-07")


def test_a_repository_on_kubernetes_needs_your_triton_image_and_an_image_needs_kubernetes(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="workload.repository on Kubernetes needs workload.image"):
        load_environment(ranker_env(tmp_path, workload={"repository": str(RANKER)}))
    with pytest.raises(SpecError, match="workload.image is the Triton image of your pods: it needs platform: kubernetes"):
        load_environment(ranker_env(tmp_path, platform="local"))


@pytest.mark.parametrize("source", [{"pvc": "models"}, {"url": "s3://models/ranker", "secret": "model-store"}])
def test_your_image_serves_the_snapshot_after_drillkit_verified_it(tmp_path: Path, source: dict[str, str]) -> None:
    spec = load_environment(ranker_env(tmp_path, model_repository=source))
    sts, *_ = docs = region_manifests(spec, RUN, "primary")
    for doc in docs:
        validate(doc)
    pod = sts["spec"]["template"]["spec"]
    (triton,) = pod["containers"]
    assert triton["image"] == IMAGE and triton["command"] == ["tritonserver"] and triton["args"] == triton_args(spec)
    assert "--model-repository=/models/r1/repository" in triton["args"] and "--strict-readiness=true" in triton["args"]
    assert {"--http-port=8000", "--grpc-port=8001", "--metrics-port=8002", "--allow-gpu-metrics=true"} <= set(triton["args"])
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"  # every model of yours, not `recommend`
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == "1" and {"name": "models", "mountPath": "/models",
                                                                       "readOnly": True} in triton["volumeMounts"]  # fmt: skip
    (first,) = pod["initContainers"]
    assert first["image"] == "registry.example/drillkit:1.0"  # drillkit's image checks the manifest before Triton starts
    if "pvc" in source:
        assert first["command"] == ["python", "-m", "drillkit", "model", "verify"] and first["args"] == ["/models/r1"]
    else:
        assert first["command"] == ["python", "-m", "drillkit.model.fetch"] and "--version" in first["args"]


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeKube]]:
    with fake_kube() as a, fake_kube() as b:
        for kube in (a, b):
            kube.controllers["StatefulSet"] = statefulset_controller()
            kube.controllers["Deployment"] = deployment_controller
        yield {"primary": a, "standby": b}


def gateway_config(kube: FakeKube) -> tuple[str, str]:
    """The last applied gateway ConfigMap's haproxy.cfg and its Deployment's config digest."""
    maps = [c.body for c in kube.calls_of("PATCH") if c.body["kind"] == "ConfigMap"]
    deployments = [c.body for c in kube.calls_of("PATCH") if c.body["kind"] == "Deployment"]
    return maps[-1]["data"]["haproxy.cfg"], deployments[-1]["spec"]["template"]["metadata"]["annotations"]["drillkit.io/config-sha256"]


def test_the_gateway_checks_your_models_and_takes_your_golden_probe_once_recorded(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    env = ranker_env(tmp_path, {CONTEXTS[r]: k.url for r, k in fakes.items()})
    platform = KubernetesPlatform(load_environment(env), spec_file=str(env), poll_s=0.001)
    platform.up()
    config, digest = gateway_config(fakes["primary"])
    assert "uri /v2/models/ranker/ready" in config and "recommend" not in config and "/infer" not in config
    assert platform.try_timeouts().models == {"ranker": 2000}  # the server timeout: nothing calibrates in-cluster
    cache = platform.spec.state_dir / "models" / "r1"
    assert verify(cache).models == ("ranker",)  # the snapshot drills judge answers with

    golden = ranker_golden(cache)
    write_golden(cache, golden)  # what `drillkit golden record` does before it asks the platform to adopt them
    assert platform.adopt_golden(golden) == []
    config, rolled = gateway_config(fakes["primary"])
    assert "meth POST uri /v2/models/ranker/infer" in config and '"name":"features"' in config
    assert rolled != digest  # the gateway's pod template changed: it rolls onto the deep check


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The ranker's version r1 published to a static server, with golden answers beside it."""
    root = tmp_path / "bucket"
    version = snapshot(RANKER, root, "r1", created_at="2026-12-07T00:00:00Z")
    write_golden(version, ranker_golden(version))
    with serve(partial(_Quiet, directory=str(root))) as url:
        yield url, root


def test_golden_answers_are_fetched_beside_the_manifest_for_drills_not_for_pods(bucket: tuple[str, Path], tmp_path: Path) -> None:
    url, root = bucket
    local = fetch_version(url, "r1", tmp_path / "cache", golden=True)
    assert load_golden(local, verify(local).sha256) is not None
    assert main(["--source", url, "--version", "r1", "--dest", str(tmp_path / "pod")]) == 0
    assert not (tmp_path / "pod" / "r1" / "golden.json").exists()  # the init container: the model only
    fetch_version(url, "r1", tmp_path / "pod", golden=True)  # a verified copy without them gains them
    assert (tmp_path / "pod" / "r1" / "golden.json").read_bytes() == (root / "r1" / "golden.json").read_bytes()
    (root / "r1" / "golden.json").unlink()
    assert fetch_version(url, "r1", tmp_path / "fresh", golden=True) == tmp_path / "fresh" / "r1"  # none recorded: fine


def test_golden_answers_of_another_manifest_refuse_the_fetch_and_leave_nothing(bucket: tuple[str, Path], tmp_path: Path) -> None:
    url, root = bucket
    write_golden(root / "r1", ranker_golden(root / "r1", manifest_sha256="0" * 64))
    with pytest.raises(ModelRepositoryError, match=r"r1/golden.json: .* was recorded for another manifest"):
        fetch_version(url, "r1", tmp_path / "cache", golden=True)
    assert list((tmp_path / "cache").iterdir()) == []
    (root / "r1" / "golden.json").write_text(json.dumps({"format": 1}))
    with pytest.raises(ModelRepositoryError, match="not valid golden answers"):
        fetch_version(url, "r1", tmp_path / "cache", golden=True)
    shutil.rmtree(tmp_path / "cache")
    assert fetch_version(url, "r1", tmp_path / "cache") == tmp_path / "cache" / "r1"  # the model alone still fetches


def pod_versions(kube: FakeKube, region: str) -> dict[str, str | None]:
    prefix = "/api/v1/namespaces/drills/pods/"
    return {path.removeprefix(prefix): obj["metadata"]["labels"].get("drillkit.io/model-version")
            for path, obj in sorted(kube.objects.items()) if path.startswith(prefix + f"k8s-{region}-")}  # fmt: skip


def test_a_node_changes_version_by_a_partitioned_rolling_update_of_its_statefulset(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    env = ranker_env(tmp_path, {CONTEXTS[r]: k.url for r, k in fakes.items()})
    platform = KubernetesPlatform(load_environment(env), spec_file=str(env), poll_s=0.001)
    platform.up()
    primary = fakes["primary"]
    assert pod_versions(primary, "primary") == {"k8s-primary-0": "r1", "k8s-primary-1": "r1"}
    assert platform.rollout_order() == ["primary-1", "primary-0", "standby-1", "standby-0"]  # the controller's order
    assert platform.publish_version("r2") == []  # a PVC: every pod verifies the version before it serves
    for kube in fakes.values():
        kube.clear()

    switch = platform.set_node_version("primary-1", "r2")
    assert switch.version == "r2" and switch.drained_at <= switch.started_at <= switch.serving_at
    (applied,) = [c.body for c in primary.calls_of("PATCH")]
    assert applied["kind"] == "StatefulSet" and applied["spec"]["updateStrategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"partition": 1}}  # only ordinal 1 and above move  # fmt: skip
    template = applied["spec"]["template"]
    assert template["metadata"]["labels"]["drillkit.io/model-version"] == "r2"
    assert "--model-repository=/models/r2/repository" in template["spec"]["containers"][0]["args"]
    assert template["spec"]["initContainers"][0]["args"] == ["/models/r2"]  # drillkit verifies r2 before Triton serves it
    assert pod_versions(primary, "primary") == {"k8s-primary-0": "r1", "k8s-primary-1": "r2"}
    assert {n.name: n.version for n in platform.status().nodes("primary")} == {"primary-0": "r1", "primary-1": "r2"}
    assert not fakes["standby"].writes()

    platform.set_node_version("primary-0", "r2")
    assert pod_versions(primary, "primary") == {"k8s-primary-0": "r2", "k8s-primary-1": "r2"}
    platform.set_node_version("primary-0", "r1")  # moving back: the higher ordinals go with it
    assert pod_versions(primary, "primary") == {"k8s-primary-0": "r1", "k8s-primary-1": "r1"}
    assert [c.body["spec"]["updateStrategy"]["rollingUpdate"]["partition"] for c in primary.calls_of("PATCH")] == [1, 0, 0]


def test_a_pod_that_never_gets_ready_on_the_version_fails_the_step(tmp_path: Path, fakes: dict[str, FakeKube]) -> None:
    env = ranker_env(tmp_path, {CONTEXTS[r]: k.url for r, k in fakes.items()})
    platform = KubernetesPlatform(load_environment(env), spec_file=str(env), poll_s=0.001)
    platform.up()
    fakes["primary"].controllers["StatefulSet"] = lambda kube, sts: None  # the new pod never comes (image pull, crash loop)
    with pytest.raises(StartupError, match="primary-1 not ready on r2 after 5 s"):
        platform.set_node_version("primary-1", "r2")
