"""Kubernetes environment specs for tests: two regions, each its own context.

``kube_environment`` writes a real environment YAML (and the kubeconfig it names) and loads
it with the one loader, so tests exercise the same validation users get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from drillkit.spec import EnvironmentSpec, load_environment
from tests.fakes.kube_api import write_kubeconfig

CONTEXTS = {"primary": "kind-drill-a", "standby": "kind-drill-b"}


def kube_document(state_dir: Path, kubeconfig: Path, **kubernetes: Any) -> dict[str, Any]:
    """The environment as a YAML document; ``kubernetes`` overrides fields of that section."""
    section: dict[str, Any] = {
        "kubeconfig": str(kubeconfig),
        "namespace": "drills",
        "clusters": [
            {"region": "primary", "context": CONTEXTS["primary"], "node_port": 30800, "address": "172.18.0.2:30800"},
            {"region": "standby", "context": CONTEXTS["standby"], "node_port": 30801, "address": "172.18.0.3:30801"},
        ],
        "images": {"drillkit": "registry.example/drillkit:1.0", "pull_secrets": ["regcred"]},
        "gpu": {"count": 1, "node_selector": {"nvidia.com/gpu.present": "true"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        "model_repository": {"url": "s3://models/recsys", "secret": "model-store"},
        "gateway": {"deploy": {"context": CONTEXTS["primary"], "url": "http://172.18.0.2:30080", "node_port": 30080}},
        "start_timeout_s": 5,
    }  # fmt: skip
    section.update(kubernetes)
    return {
        "name": "k8s",
        "platform": "kubernetes",
        "state_dir": str(state_dir),
        "regions": [{"name": "primary", "role": "primary", "nodes": 2}, {"name": "standby", "role": "standby", "nodes": 2}],
        "prometheus": {"url": "http://127.0.0.1:9090"},
        "kubernetes": section,
    }


def kube_environment(tmp_path: Path, urls: dict[str, str] | None = None, **kubernetes: Any) -> EnvironmentSpec:
    """Write a kubeconfig (contexts -> ``urls``) and the environment file; load it."""
    urls = urls or {c: "http://127.0.0.1:9" for c in CONTEXTS.values()}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", urls)
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(kube_document(tmp_path / "state", kubeconfig, **kubernetes)))
    return load_environment(path)
