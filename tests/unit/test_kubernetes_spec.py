"""The ``kubernetes:`` section of an environment: validated when loaded, errors name field and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.errors import SpecError
from drillkit.spec import load_environment
from tests.fakes.kube_env import kube_document


def load(tmp_path: Path, document: dict[str, Any]) -> Any:
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_environment(path)


def doc(tmp_path: Path, **kubernetes: Any) -> dict[str, Any]:
    return kube_document(tmp_path / "state", tmp_path / "kubeconfig", **kubernetes)


def test_the_shipped_two_cluster_environment_is_valid() -> None:
    spec = load_environment("drills/environments/kubernetes.yaml")
    assert spec.platform == "kubernetes" and spec.kubernetes is not None
    assert spec.kubernetes.contexts() == ["kind-drill-a", "kind-drill-b"]
    assert [r.nodes for r in spec.regions] == [2, 2]  # Triton pods per region
    assert spec.kubernetes.gateway.deploy is not None and spec.kubernetes.gateway.deploy.context == "kind-drill-a"


def test_platform_kubernetes_needs_its_section_and_only_it(tmp_path: Path) -> None:
    document = doc(tmp_path)
    del document["kubernetes"]
    with pytest.raises(SpecError, match="a `kubernetes:` section is required with platform: kubernetes"):
        load(tmp_path, document)
    document = doc(tmp_path)
    document["platform"] = "local"
    with pytest.raises(SpecError, match="and only then"):
        load(tmp_path, document)


def test_every_region_needs_exactly_one_cluster(tmp_path: Path) -> None:
    clusters = [{"region": "primary", "context": "kind-drill-a", "address": "10.0.0.1:1"}, {"region": "east", "context": "b", "address": "10.0.0.2:1"}]
    with pytest.raises(SpecError, match=r"kubernetes.clusters must name each region once.*clusters \['primary', 'east'\]"):
        load(tmp_path, doc(tmp_path, clusters=clusters))


def test_a_deployed_gateway_needs_every_address_and_one_of_the_contexts(tmp_path: Path) -> None:
    clusters = [{"region": "primary", "context": "a", "address": "10.0.0.1:1"}, {"region": "standby", "context": "b"}]
    with pytest.raises(SpecError, match="standby need an address"):
        load(tmp_path, doc(tmp_path, clusters=clusters))
    gateway = {"deploy": {"context": "elsewhere", "url": "http://10.0.0.9:30080"}}
    with pytest.raises(SpecError, match="'elsewhere' is not one of clusters"):
        load(tmp_path, doc(tmp_path, gateway=gateway))


def test_an_external_gateway_needs_no_addresses(tmp_path: Path) -> None:
    clusters = [{"region": "primary", "context": "a"}, {"region": "standby", "context": "b"}]
    spec = load(tmp_path, doc(tmp_path, clusters=clusters, gateway={"external": {"url": "https://recsys.example.com"}}))
    assert spec.kubernetes.gateway.external.url == "https://recsys.example.com"


def test_exactly_one_model_source_and_one_gateway_kind(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="exactly one of model_repository.pvc and model_repository.url"):
        load(tmp_path, doc(tmp_path, model_repository={"pvc": "models", "url": "s3://b/p"}))
    with pytest.raises(SpecError, match="exactly one of kubernetes.gateway.deploy and kubernetes.gateway.external"):
        load(tmp_path, doc(tmp_path, gateway={}))


def test_a_misspelt_field_names_the_path_and_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, doc(tmp_path, gpus={"count": 1}))
    assert caught.value.field == "kubernetes.gpus" and "gpu" in caught.value.fix


def test_names_and_quantities_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, doc(tmp_path, namespace="Drill_Space"))
    assert caught.value.field == "kubernetes.namespace"
    with pytest.raises(SpecError) as caught:
        load(tmp_path, doc(tmp_path, resources={"memory": "lots"}))
    assert caught.value.field == "kubernetes.resources.memory"
