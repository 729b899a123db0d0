"""The real-cluster suite: skipped unless ``DRILLKIT_KUBECONFIG`` names a kubeconfig with two contexts.

See the README section "Two Kubernetes clusters" for two kind clusters. Variables:

- ``DRILLKIT_KUBECONFIG``: the kubeconfig (required); ``DRILLKIT_CONTEXTS=a,b`` picks two of its
  contexts (default: the first two);
- ``DRILLKIT_IMAGE``: the drillkit image the clusters can run (default ``drillkit:dev``, e.g.
  loaded with ``kind load docker-image``);
- ``DRILLKIT_MODEL_HOST``: the address pods reach this machine at (default ``172.18.0.1``,
  the gateway of kind's docker network); the suite serves the model to the pods from here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.platforms.k8s.client import collection
from drillkit.platforms.k8s.clusters import allowed_from_environment
from drillkit.platforms.kubernetes import KubernetesPlatform
from drillkit.spec import load_environment


def _contexts() -> tuple[Path, list[str]] | None:
    path = os.environ.get("DRILLKIT_KUBECONFIG")
    if not path or not Path(path).is_file():
        return None
    names = [c["name"] for c in (yaml.safe_load(Path(path).read_text()) or {}).get("contexts") or []]
    wanted = [c for c in os.environ.get("DRILLKIT_CONTEXTS", "").split(",") if c] or names[:2]
    return (Path(path), wanted) if len(wanted) == 2 and set(wanted) <= set(names) else None


def real_clusters() -> bool:
    """True when DRILLKIT_KUBECONFIG names a kubeconfig with two (chosen) contexts."""
    return _contexts() is not None


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small model version served over HTTP to the pods' fetch init containers."""
    root = tmp_path_factory.mktemp("bucket")
    build(root, "v1", ModelParams(items=2000, dim=16, users=500, seed=7), created_at="2026-01-01T00:00:00Z")
    server = ThreadingHTTPServer(("0.0.0.0", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{os.environ.get('DRILLKIT_MODEL_HOST', '172.18.0.1')}:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, model_server: str) -> Iterator[KubernetesPlatform]:
    """The two-cluster environment, up for the session and always brought down."""
    found = _contexts()
    assert found is not None
    kubeconfig, (ctx_a, ctx_b) = found
    folder = tmp_path_factory.mktemp("env")
    probe = load_environment(_environment(folder, kubeconfig, ctx_a, ctx_b, model_server, {"a": "127.0.0.1", "b": "127.0.0.1"}))
    ips = {key: _internal_ip(KubernetesPlatform(probe, allow_contexts=allowed_from_environment()), ctx) for key, ctx in (("a", ctx_a), ("b", ctx_b))}
    spec_file = _environment(folder, kubeconfig, ctx_a, ctx_b, model_server, ips)
    p = KubernetesPlatform(load_environment(spec_file), spec_file=str(spec_file), poll_s=1.0, allow_contexts=allowed_from_environment())
    try:
        p.up()
        yield p
    finally:
        p.down()


def _internal_ip(p: KubernetesPlatform, context: str) -> str:
    """A node's InternalIP: where NodePorts of that cluster are reached from the other one."""
    nodes = p.clusters.context(context).request("GET", collection("Node"))["items"]
    return next(a["address"] for a in nodes[0]["status"]["addresses"] if a["type"] == "InternalIP")


def _environment(folder: Path, kubeconfig: Path, ctx_a: str, ctx_b: str, model_url: str, ips: dict[str, str]) -> Path:
    document = {
        "name": "ctest",
        "platform": "kubernetes",
        "state_dir": str(folder / "state"),
        "regions": [{"name": "primary", "role": "primary", "nodes": 2}, {"name": "standby", "role": "standby", "nodes": 1}],
        "gateway": {"check_interval_ms": 500, "fall": 2, "rise": 2},
        "model": {"version": "v1", "items": 2000, "dim": 16, "users": 500, "seed": 7, "device": "cpu"},
        "kubernetes": {
            "kubeconfig": str(kubeconfig),
            "namespace": "drillkit-ctest",
            "clusters": [
                {"region": "primary", "context": ctx_a, "node_port": 30810, "address": f"{ips['a']}:30810"},
                {"region": "standby", "context": ctx_b, "node_port": 30810, "address": f"{ips['b']}:30810"},
            ],
            "images": {"drillkit": os.environ.get("DRILLKIT_IMAGE", "drillkit:dev"), "pull_policy": "IfNotPresent"},
            "gpu": {"count": 0},
            "resources": {"cpu": "500m", "memory": "2Gi", "shm": "256Mi"},
            "model_repository": {"url": model_url},
            "gateway": {"deploy": {"context": ctx_a, "url": f"http://{ips['a']}:30880", "node_port": 30880}},
            "start_timeout_s": 600,
        },
    }  # fmt: skip
    path = folder / "env.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
