"""The node under ``bench_gpu``: its model repository, its process and its metrics endpoint.

The node is started exactly as the platforms start one (``node_command`` and
``node_environment`` of ``drillkit.model.node``), in its own process group, and always ended
by PID through ``drillkit.supervise`` (SIGTERM to its group, SIGKILL after a grace period),
leaving no PyTriton shared memory behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Self

from drillkit import supervise
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.model.node import node_command, node_environment, shm_leftovers
from drillkit.model.repository import verify
from drillkit.netutil import free_port, http_status

MODELS = ("recommend", "search")
START_TIMEOUT_S = 600.0  # a 1M-item model: load, Triton start, and CUDA's first kernels


def ensure_repository(root: Path, *, items: int, dim: int, users: int) -> Path:
    """``root/i<items>-d<dim>-u<users>``, built once (1M x 64: about a minute on one core) and verified."""
    version = f"i{items}-d{dim}-u{users}"
    if not (root / version).exists():
        print(f"building a {items:,} x {dim} model repository in {root / version}", flush=True)
        build(root, version, ModelParams(items=items, dim=dim, users=users), created_at="bench")
    verify(root / version)
    return root / version


@dataclass(frozen=True)
class Scrape:
    """The node's counters (summed over models) and GPU gauges at one moment (None: not exported).

    ``gpu_source`` says where the gauges came from: ``triton`` (its ``nv_gpu_*`` metrics, which
    need DCGM to start inside Triton) or ``nvml`` (read here when Triton exports none).
    """

    counters: dict[str, float]
    gpu_utilization: float | None
    gpu_memory_used: float | None
    gpu_power: float | None
    gpu_source: str | None = None

    def delta(self, before: Scrape) -> dict[str, float]:
        return {name: value - before.counters.get(name, 0.0) for name, value in self.counters.items()}


COUNTERS = {
    "nv_inference_request_success": "success", "nv_inference_request_failure": "failure",
    "nv_inference_exec_count": "executions", "nv_inference_queue_duration_us": "queue_us",
    "nv_inference_compute_infer_duration_us": "infer_us",
}  # fmt: skip
GAUGES = ("nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage")


def parse_metrics(text: str) -> Scrape:
    """Triton's Prometheus text: our models' counters summed, GPU gauges (utilization: the busiest GPU)."""
    from prometheus_client.parser import text_string_to_metric_families

    counters = dict.fromkeys(COUNTERS.values(), 0.0)
    gauges: dict[str, list[float]] = {name: [] for name in GAUGES}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:  # the family's name: the parser gives counter samples a _total suffix
            if family.name in COUNTERS and sample.labels.get("model") in MODELS:
                counters[COUNTERS[family.name]] += sample.value
            elif family.name in gauges:
                gauges[family.name].append(sample.value)
    util, used, power = (gauges[name] for name in GAUGES)
    return Scrape(counters, max(util) if util else None, sum(used) if used else None, sum(power) if power else None,
                  "triton" if util else None)  # fmt: skip


def nvml_gauges() -> tuple[float, float, float] | None:
    """Utilization (0-1, the busiest GPU), memory used (bytes) and power (W) from NVML; None without it."""
    try:
        import pynvml  # nvidia-ml-py: on the GPU machine's image, not a dependency of drillkit
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        util = max((pynvml.nvmlDeviceGetUtilizationRates(h).gpu / 100 for h in handles), default=0.0)
        used = sum(float(pynvml.nvmlDeviceGetMemoryInfo(h).used) for h in handles)
        power = sum(pynvml.nvmlDeviceGetPowerUsage(h) / 1000 for h in handles)
    except pynvml.NVMLError:
        return None
    return util, used, power


class BenchNode:
    """One node process for the benchmark (a context manager that always ends it)."""

    def __init__(self, version_dir: Path, tmp: Path, args: argparse.Namespace) -> None:
        self.http_port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.command = node_command(
            sys.executable, repository=version_dir.parent, version=version_dir.name, region="bench", node="bench-0",
            http_port=self.http_port, grpc_port=self.grpc_port, metrics_port=self.metrics_port, device=args.device,
            max_batch_size=args.max_batch_size, max_queue_delay_us=args.max_queue_delay_us, workspace=tmp / "workspace",
            instances=args.instances, ipc=args.ipc,
        )  # fmt: skip
        self.log_path = tmp / "node.log"
        self.process: supervise.Process | None = None
        self.up_s = 0.0
        self.device_line = ""

    def __enter__(self) -> Self:
        started = time.monotonic()
        self.process = supervise.spawn("bench node", self.command, log_path=self.log_path, env=node_environment(os.environ))
        try:
            self._wait_ready(started + START_TIMEOUT_S)
        except BaseException:
            self._stop()
            raise
        self.up_s = time.monotonic() - started
        self.device_line = next((line.split(" on ", 1)[-1] for line in self.log().splitlines() if " serving model " in line), "?")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def scrape(self) -> Scrape:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            scrape = parse_metrics(response.read().decode())
        nvml = None if scrape.gpu_source else nvml_gauges()
        return scrape if nvml is None else replace(scrape, gpu_utilization=nvml[0], gpu_memory_used=nvml[1], gpu_power=nvml[2],
                                                   gpu_source="nvml")  # fmt: skip

    def _wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        while not all(http_status(f"http://127.0.0.1:{self.http_port}/v2/models/{m}/ready") == 200 for m in MODELS):
            if not supervise.alive(self.process):
                raise RuntimeError(f"the node exited:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node was not ready within {START_TIMEOUT_S:.0f} s:\n{self.log()[-4000:]}")
            time.sleep(0.5)

    def _stop(self) -> None:
        if self.process is None:
            return
        supervise.terminate([self.process], grace_s=30)
        for leftover in shm_leftovers(self.process.pid):
            leftover.unlink(missing_ok=True)
