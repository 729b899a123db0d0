"""A single Triton node: it refuses a tampered repository, serves the golden answers, and
fails like a GPU after an Xid (signals of drillkit.model.node)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit import supervise
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.model.client import RecommenderClient
from drillkit.model.node import (
    DEVICE_LOST_SIGNAL,
    ECC_ERROR_SIGNAL,
    MEMORY_PRESSURE_SIGNAL,
    REFUSED,
    node_command,
    node_environment,
    shm_leftovers,
)  # fmt: skip
from drillkit.model.repository import Manifest, verify
from drillkit.netutil import free_port, http_status

pytestmark = pytest.mark.integration


def test_a_node_refuses_a_tampered_repository_before_starting_triton(tmp_path: Path) -> None:
    version = build(tmp_path / "repo", "v1", ModelParams(items=300, users=20, dim=8), created_at="x")
    (version / "catalog" / "items.parquet").write_bytes(b"tampered")
    command = node_command(
        sys.executable, repository=tmp_path / "repo", version="v1", region="primary", node="primary-0",
        http_port=1, grpc_port=2, metrics_port=3, device="cpu", max_batch_size=8, max_queue_delay_us=100,
        workspace=tmp_path / "ws",
    )  # fmt: skip
    done = subprocess.run(command, env=node_environment({}), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == REFUSED
    assert "drillkit node primary/primary-0: refusing to serve" in done.stderr
    assert "items.parquet does not match its sha256" in done.stderr
    assert not (tmp_path / "ws").exists()


def test_node_environment_puts_libpython_on_the_loader_path() -> None:
    import sysconfig

    env = node_environment({"LD_LIBRARY_PATH": "/opt/x"})
    parts = env["LD_LIBRARY_PATH"].split(":")
    assert parts[0] == sysconfig.get_config_var("LIBDIR") and parts[-1] == "/opt/x"


def golden_answers_identical(url: str, manifest: Manifest) -> int:
    """How many golden probes the node answers with the recorded items in order and scores (asserted)."""
    client = RecommenderClient(url)
    probes = [*manifest.golden.recommend, *manifest.golden.search]
    for probe in probes:
        query = getattr(probe, "query", None)
        reply = client.recommend(probe.user_id, probe.k) if query is None else client.search(query, probe.user_id, probe.k)
        assert reply.answer is not None, reply.error
        assert reply.answer.item_ids == tuple(probe.item_ids), probe
        assert max(abs(a - b) for a, b in zip(reply.answer.scores, probe.scores, strict=True)) <= 1e-6, probe
    return len(probes)


class Node:
    def __init__(self, tmp: Path) -> None:
        self.manifest: Manifest = verify(build(tmp / "repo", "v1", ModelParams(items=5_000, users=500), created_at="x"))
        self.http_port = free_port()
        self.log = tmp / "node.log"
        command = node_command(
            sys.executable, repository=tmp / "repo", version="v1", region="primary", node="primary-0",
            http_port=self.http_port, grpc_port=free_port(), metrics_port=free_port(), device="cpu", max_batch_size=8,
            max_queue_delay_us=100, workspace=tmp / "ws",
        )  # fmt: skip
        self.process = supervise.spawn("node", command, log_path=self.log, env=node_environment(os.environ))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def ready(self, model: str) -> int | None:
        return http_status(f"{self.url}/v2/models/{model}/ready")

    def wait_for(self, what: str, condition: object, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            assert supervise.alive(self.process), self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{what} within {timeout_s} s:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = Node(tmp_path_factory.mktemp("node"))
    try:
        started.wait_for("ready", lambda: started.ready("recommend") == 200 and started.ready("search") == 200)
        yield started
    finally:
        supervise.terminate([started.process], grace_s=20)
        for leftover in shm_leftovers(started.process.pid):
            leftover.unlink(missing_ok=True)


def test_a_node_serves_the_golden_answers_and_shrugs_off_memory_pressure_on_cpu(node: Node) -> None:
    assert golden_answers_identical(node.url, node.manifest) == 32
    assert "1 instance(s) per model, inline IPC" in node.log.read_text()
    os.kill(node.process.pid, MEMORY_PRESSURE_SIGNAL)  # what a GPU memory hog sends every 0.2 s
    node.wait_for("the pressure noted", lambda: "device memory pressure" in node.log.read_text(), 20)
    assert golden_answers_identical(node.url, node.manifest) == 32  # a CPU node has no device cache: it serves on


def test_ecc_fails_requests_but_stays_ready_and_device_lost_drops_readiness(node: Node) -> None:
    client = RecommenderClient(node.url)
    os.kill(node.process.pid, ECC_ERROR_SIGNAL)
    node.wait_for("the ECC error", lambda: client.recommend(1, 5).error is not None, 20)
    reply = client.search("red", 1, 5)
    assert reply.status >= 400 and "Xid 48: double-bit ECC error" in (reply.error or "")
    assert node.ready("recommend") == 200 and node.ready("search") == 200  # as Triton does on an ECC Xid
    os.kill(node.process.pid, DEVICE_LOST_SIGNAL)
    node.wait_for("readiness to drop", lambda: node.ready("recommend") != 200 and node.ready("search") != 200, 30)
    assert client.recommend(1, 5).error is not None and supervise.alive(node.process)  # down until restarted
