"""Benchmark of one Triton node at increasing offered rates (``make bench-gpu``; not in ``make test``).

Builds (or reuses) a model repository of ``--items`` x ``--dim``, starts ONE node through the
same entry point the platforms use (``python -m drillkit.model.node``, device ``auto``: CUDA
when present), and drives it open-loop from ``--processes`` spawned processes of
``--threads`` senders each, over gRPC and HTTP, with a ``recommend`` / ``search`` mix at
``k`` = 20. For each stage it prints the achieved requests/s, p50/p99 latency (counted
from each request's scheduled time), errors, the mean dynamic batch and time in Triton's
queue and execution, and ``nv_gpu_utilization`` / memory / power from the node's metrics
endpoint when Triton exports them (on a GPU machine; else from NVML when present). With
``--faults compute,memory`` it then runs one offered rate before, under and after a real
hog beside the node (``drillkit.chaos.hog``), so each fault's effect is measured. Traffic
stays on 127.0.0.1; stages are bounded in count and time, and a saturated stage ends that
protocol's sweep.

    python -m tests.benchmarks.bench_gpu                          # 1M x 64, the GPU target
    python -m tests.benchmarks.bench_gpu --items 50000 --rates 100,200,400   # a CPU box
    python -m tests.benchmarks.bench_gpu --protocols grpc --rates 5000 --faults compute,memory
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue as queues
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from tests.benchmarks import gpu_load
from tests.benchmarks.gpu_faults import fault_rows
from tests.benchmarks.gpu_node import BenchNode, Scrape, ensure_repository

TARGET_P99_MS = 5.0
TARGET_RPS = 5_000.0
SATURATED = 0.9  # achieved under this share of the offered rate: the node is past its capacity


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = ensure_repository(args.repo, items=args.items, dim=args.dim, users=args.users)
    calls = _pool(root, args)
    with tempfile.TemporaryDirectory(prefix="drillkit-bench-gpu-") as tmp, BenchNode(root, Path(tmp), args) as node:
        print(f"node up in {node.up_s:.1f} s on {node.device_line}", flush=True)
        _stage(node, calls, args, "grpc", args.rates[0], args.warmup_s)  # warm-up: batcher, allocator, connections
        rows = [row for protocol in args.protocols for row in _sweep(node, calls, args, protocol)]
        rows += _faults(node, calls, args, Path(tmp))
    _print(rows, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "stages": rows}, indent=2, default=str))
    return 0


def _sweep(node: BenchNode, calls: list[gpu_load.Call], args: argparse.Namespace, protocol: str) -> list[dict]:  # type: ignore[type-arg]
    rows = []
    for rate in args.rates:
        row = _stage(node, calls, args, protocol, rate, args.duration_s)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if row["achieved_rps"] < SATURATED * rate:
            break
    return rows


def _faults(node: BenchNode, calls: list[gpu_load.Call], args: argparse.Namespace, logs: Path) -> list[dict]:  # type: ignore[type-arg]
    if not args.faults:
        return []
    assert node.process is not None
    protocol, rate = args.protocols[0], args.fault_rate or args.rates[0]
    rows = fault_rows(lambda: _stage(node, calls, args, protocol, rate, args.duration_s), args.faults,
                      level=args.fault_level, device=args.device, node_pid=node.process.pid, seconds=args.duration_s,
                      logs=logs)  # fmt: skip
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def _stage(node: BenchNode, calls: list[gpu_load.Call], args: argparse.Namespace, protocol: str, rate: float,
           seconds: float) -> dict:  # type: ignore[type-arg]  # fmt: skip
    context = multiprocessing.get_context("spawn")  # light workers: no torch, no Triton in them
    queue = context.Queue()
    port = node.grpc_port if protocol == "grpc" else node.http_port
    procs = [context.Process(target=gpu_load.process_main,
                             args=(protocol, port, calls, rate / args.processes, seconds, args.threads, seed, queue))
             for seed in range(args.processes)]  # fmt: skip
    before = node.scrape()
    for p in procs:
        p.start()
    samples, result = _collect(node, queue, len(procs), seconds)
    for p in procs:
        p.join(timeout=30)
    return _row(protocol, rate, seconds, result, before, node.scrape(), samples)


def _collect(node: BenchNode, queue: object, count: int, seconds: float) -> tuple[list[Scrape], gpu_load.Result]:
    """Sample the node's metrics every second while the load runs; gather every process's result."""
    samples, total, got = [], gpu_load.Result(), 0
    deadline = time.monotonic() + seconds + 90
    while got < count and time.monotonic() < deadline:
        try:
            total.merge(queue.get(timeout=1.0))  # type: ignore[attr-defined]
            got += 1
        except queues.Empty:  # a second passed
            samples.append(node.scrape())
    if got < count:
        raise RuntimeError(f"only {got} of {count} load processes reported within {seconds + 90:.0f} s")
    return samples, total


def _row(protocol: str, rate: float, seconds: float, r: gpu_load.Result, before: Scrape, after: Scrape,
         samples: list[Scrape]) -> dict:  # type: ignore[type-arg]  # fmt: skip
    lat, svc = np.asarray(r.latency) * 1e3, np.asarray(r.service) * 1e3
    done = after.delta(before)
    gpu = [s for s in samples if s.gpu_utilization is not None]
    return {
        "protocol": protocol, "offered_rps": rate, "achieved_rps": round(len(lat) / max(seconds, r.span_s), 1),
        "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "service_p99_ms": _pct(svc, 99),
        "ok": len(lat), "errors": r.errors, "first_error": r.first_error,
        "mean_batch": round(done["success"] / done["executions"], 2) if done["executions"] else None,
        "queue_ms": round(done["queue_us"] / done["success"] / 1e3, 3) if done["success"] else None,
        "exec_ms": round(done["infer_us"] / done["success"] / 1e3, 3) if done["success"] else None,
        "gpu_utilization_max": max((s.gpu_utilization or 0.0) for s in gpu) if gpu else None,
        "gpu_memory_used_mib_max": round(max((s.gpu_memory_used or 0.0) for s in gpu) / 2**20) if gpu else None,
        "gpu_power_w_mean": round(float(np.mean([s.gpu_power or 0.0 for s in gpu])), 1) if gpu else None,
        "gpu_source": gpu[0].gpu_source if gpu else None,
    }  # fmt: skip


def _pct(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def _pool(root: Path, args: argparse.Namespace) -> list[gpu_load.Call]:
    """A fixed pool of calls: random users, searches for one or two words of real titles."""
    from drillkit.model.catalog import load_catalog

    titles = load_catalog(root / "catalog").item_title
    rng = np.random.default_rng(11)
    calls = []
    for i in range(args.pool):
        user = int(rng.integers(0, args.users))
        if rng.random() >= args.search_share:
            calls.append(gpu_load.Call(user, args.k))
            continue
        words = str(titles[int(rng.integers(0, len(titles)))]).split()[1:]
        calls.append(gpu_load.Call(user, args.k, " ".join(words[: 1 + i % 2])))
    return calls


def _print(rows: list[dict], args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    table = Table(title=f"one Triton node, {args.items:,} x {args.dim}, k={args.k}", title_justify="left")
    for column in ("protocol", "offered", "achieved", "p50 ms", "p99 ms", "svc p99", "errors", "batch", "queue ms",
                   "exec ms", "GPU util", "GPU MiB", "W"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(*(str(v) for v in (r["protocol"] + (f" {r['phase']}" if "phase" in r else ""), r["offered_rps"], r["achieved_rps"], r["p50_ms"], r["p99_ms"],
                      r["service_p99_ms"], r["errors"], r["mean_batch"], r["queue_ms"], r["exec_ms"],
                      r["gpu_utilization_max"], r["gpu_memory_used_mib_max"], r["gpu_power_w_mean"])))  # fmt: skip
    Console(width=160).print(table)
    for protocol in args.protocols:
        print(_verdict(protocol, [r for r in rows if r["protocol"] == protocol and "phase" not in r]))


def _verdict(protocol: str, rows: list[dict]) -> str:  # type: ignore[type-arg]
    good = [r for r in rows if not r["errors"] and r["p99_ms"] is not None and r["p99_ms"] <= TARGET_P99_MS
            and r["achieved_rps"] >= SATURATED * r["offered_rps"]]  # fmt: skip
    best = max(good, key=lambda r: r["achieved_rps"], default=None)
    if best is None:
        return f"{protocol}: target p99 <= {TARGET_P99_MS} ms at >= {TARGET_RPS:.0f} req/s NOT MET: no stage kept p99 <= {TARGET_P99_MS} ms"
    met = "MET" if best["achieved_rps"] >= TARGET_RPS else "NOT MET"
    return (f"{protocol}: target p99 <= {TARGET_P99_MS} ms at >= {TARGET_RPS:.0f} req/s {met}: "
            f"best {best['achieved_rps']} req/s at p99 {best['p99_ms']} ms")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_gpu", description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--repo", type=Path, default=Path(".drillkit/bench-gpu"), help="model repository root (reused)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--instances", type=int, default=0, help="model instances per model (0: the node's default)")
    p.add_argument("--ipc", default="inline", choices=("inline", "tensorstore"))
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-queue-delay-us", type=int, default=500)
    p.add_argument("--rates", type=_floats, default=[1000.0, 2500.0, 5000.0, 7500.0, 10000.0], help="offered req/s, comma-separated")
    p.add_argument("--protocols", type=lambda s: s.split(","), default=["grpc", "http"])
    p.add_argument("--processes", type=int, default=min(8, max(1, (multiprocessing.cpu_count() or 2) // 2)))
    p.add_argument("--threads", type=int, default=8, help="sender threads per process")
    p.add_argument("--duration-s", type=float, default=10.0)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--search-share", type=float, default=0.5)
    p.add_argument("--pool", type=int, default=512, help="distinct requests, cycled at random")
    p.add_argument("--faults", type=lambda s: [k for k in s.split(",") if k], default=[],
                   help="after the sweep: compute and/or memory hog stages (baseline, under the hog, after)")
    p.add_argument("--fault-level", type=float, default=1.0, help="the hog's --level")
    p.add_argument("--fault-rate", type=float, default=0.0, help="offered req/s of the fault stages (0: the first rate)")
    p.add_argument("--json", help="also write every stage as JSON to this file")
    return p


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


if __name__ == "__main__":
    sys.exit(main())
