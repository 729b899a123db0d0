"""Scaling a Kubernetes region against the fake API server: the StatefulSet's scale
subresource, the new pods waited for, the count kept for every later command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.errors import SpecError
from drillkit.platforms.base import Health
from drillkit.platforms.kubernetes import KubernetesPlatform
from tests.fakes.kube_api import FakeKube, fake_kube
from tests.fakes.kube_env import CONTEXTS, kube_environment
from tests.fakes.kube_objects import deployment_controller, statefulset_controller


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[KubernetesPlatform, dict[str, FakeKube]]]:
    with fake_kube() as a, fake_kube() as b:
        for kube in (a, b):
            kube.controllers["StatefulSet"] = statefulset_controller()
            kube.controllers["Deployment"] = deployment_controller
        fakes = {"primary": a, "standby": b}
        regions = [{"name": "primary", "role": "primary", "nodes": 2, "max_nodes": 4}, {"name": "standby", "role": "standby", "nodes": 2}]
        spec = kube_environment(tmp_path, {CONTEXTS[r]: k.url for r, k in fakes.items()}, model_repository={"pvc": "models"})
        spec = spec.model_validate({**spec.model_dump(), "regions": regions})
        p = KubernetesPlatform(spec, spec_file=str(tmp_path / "env.yaml"), poll_s=0.001)
        p.up()
        yield p, fakes


def test_a_region_scales_out_and_in_through_its_statefulset(platform: tuple[KubernetesPlatform, dict[str, FakeKube]]) -> None:
    p, fakes = platform
    primary = fakes["primary"]
    for kube in fakes.values():
        kube.clear()
    out = p.scale_region("primary", 4)
    assert (out.from_nodes, out.to_nodes, out.nodes) == (2, 4, ["primary-2", "primary-3"]) and out.time_to_scale_s >= 0
    assert [(c.method, c.path, c.body) for c in primary.writes()] == [
        ("PATCH", "/apis/apps/v1/namespaces/drills/statefulsets/k8s-primary/scale", {"spec": {"replicas": 4}})]  # fmt: skip
    assert p.node_names("primary") == ["primary-0", "primary-1", "primary-2", "primary-3"]
    assert [n.health for n in p.status().nodes("primary")] == [Health.READY] * 4
    assert p.rollout_order()[:4] == ["primary-3", "primary-2", "primary-1", "primary-0"]
    again = KubernetesPlatform(p.spec, spec_file=p.spec_file, poll_s=0.001)  # another command, later
    assert again.node_names("primary") == p.node_names("primary")
    inward = p.scale_region("primary", 2)
    assert inward.nodes == ["primary-2", "primary-3"] and p.node_names("primary") == ["primary-0", "primary-1"]
    assert not fakes["standby"].writes()


def test_scaling_stays_between_the_spec_nodes_and_max_nodes(platform: tuple[KubernetesPlatform, dict[str, FakeKube]]) -> None:
    p, fakes = platform
    with pytest.raises(SpecError, match=r"5 nodes is outside 2\.\.4"):
        p.scale_region("primary", 5)
    with pytest.raises(SpecError, match=r"3 nodes is outside 2\.\.2"):
        p.scale_region("standby", 3)
    assert not any(c.path.endswith("/scale") for k in fakes.values() for c in k.writes())
