"""The CLI on a Kubernetes environment: --allow-context, exit codes, and `drillkit k8s manifests`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

from tests.fakes.kube_api import fake_kube
from tests.fakes.kube_env import kube_environment
from tests.fakes.kube_objects import deployment_controller, statefulset_controller


def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "drillkit", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})  # fmt: skip


def test_a_production_looking_context_needs_allow_context_for_up_and_down(tmp_path: Path) -> None:
    clusters = [{"region": "primary", "context": "kind-drill-a", "address": "10.0.0.1:30800"},
                {"region": "standby", "context": "gke_shop_prod-eu", "address": "10.0.0.2:30800"}]  # fmt: skip
    with fake_kube() as a, fake_kube() as prod:
        for kube in (a, prod):
            kube.controllers["StatefulSet"] = statefulset_controller()
            kube.controllers["Deployment"] = deployment_controller
        kube_environment(tmp_path, {"kind-drill-a": a.url, "gke_shop_prod-eu": prod.url}, clusters=clusters, model_repository={"pvc": "m"})
        env = str(tmp_path / "env.yaml")
        refused = drillkit("up", "--env", env)
        assert refused.returncode == 2, refused.stderr
        assert "looks like production" in refused.stderr and "--allow-context gke_shop_prod-eu" in refused.stderr
        assert not prod.calls
        done = drillkit("up", "--env", env, "--json", "--allow-context", "gke_shop_prod-eu")
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        assert status["up"] and status["platform"] == "kubernetes" and len(status["components"]) == 5
        down = drillkit("down", "--env", env, "--json", "--allow-context", "gke_shop_prod-eu")
        assert down.returncode == 0, down.stderr
        assert "gke_shop_prod-eu/StatefulSet/k8s-standby" in json.loads(down.stdout)["stopped"]


def test_manifests_prints_what_up_applies_as_valid_yaml(tmp_path: Path) -> None:
    kube_environment(tmp_path)
    done = drillkit("k8s", "manifests", "--env", str(tmp_path / "env.yaml"))
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert [d["kind"] for d in docs] == ["Namespace", "StatefulSet", "Service", "Service", "PodDisruptionBudget", "ConfigMap",
                                         "Deployment", "Service", "Service", "Namespace", "StatefulSet", "Service", "Service",
                                         "PodDisruptionBudget"]  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37", strict=True)
    assert "# context kind-drill-b" in done.stdout
