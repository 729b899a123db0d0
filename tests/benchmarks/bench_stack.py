"""Benchmark of the embedded 2x2 stack (``make bench``; not part of ``make test``).

Prints: time for ``up`` (model already built), resident memory of the whole stack,
single-request latency direct to Triton, through the fault proxy alone and through
gateway + fault proxy (p50/p99 over N sequential keep-alive requests), and the maximum
throughput through the gateway with several client processes. Every load loop is bounded
in count and time, and all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drillkit import supervise
from drillkit.model.client import RecommenderClient
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.local_state import LocalState, load_state
from drillkit.platforms.provision import ensure_built
from drillkit.spec import load_environment

REQUESTS = 2_000
THROUGHPUT_S = 10.0
CLIENT_PROCESSES = 4
THREADS_PER_PROCESS = 4


def main() -> None:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="drillkit-bench-") as tmp:
        spec = load_environment("drills/environments/local.yaml").model_copy(update={"state_dir": Path(tmp), "name": "bench"})
        ensure_built(spec.model, spec.state_dir / "models")
        platform = LocalPlatform(spec)
        started = time.perf_counter()
        platform.up()
        up_s = time.perf_counter() - started
        try:
            figures = _measure(platform, up_s)
        finally:
            platform.down()
    _print(console, figures)
    print(json.dumps(figures, indent=2))


def _measure(platform: LocalPlatform, up_s: float) -> dict[str, object]:
    state = load_state(platform.state_path)
    assert state is not None
    node = state.nodes[0]
    time.sleep(2.0)  # let start-up work (checks settling, first scrapes) finish
    rss, pss = _memory(state)
    paths = {
        "direct": f"http://127.0.0.1:{node.http_port}",
        "proxy": f"http://127.0.0.1:{node.proxy_port}",
        "gateway+proxy": state.gateway_url or "",
    }
    samples = _latencies(paths)
    paired = [g - d for g, d in zip(samples["gateway+proxy"], samples["direct"], strict=True) if g == g and d == d]
    return {
        "up_s": round(up_s, 2),
        "stack_rss_mib": round(rss / 2**20),
        "stack_pss_mib": round(pss / 2**20),
        "latency_ms": {path: _percentiles(values) for path, values in samples.items()},
        "gateway_overhead_p50_ms": round(statistics.median(paired), 3),
        "gateway_throughput_rps": round(_throughput(state.gateway_url or "")),
    }


def _memory(state: LocalState) -> tuple[int, int]:
    rss = pss = 0
    for proc in state.processes():
        for pid in supervise.group_pids(proc):
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in rollup[1:]}
            rss += fields.get("Rss", 0)
            pss += fields.get("Pss", 0)
    return rss, pss


def _latencies(paths: dict[str, str]) -> dict[str, list[float]]:
    """Sequential keep-alive requests, interleaved across the paths request by request, so
    that drift in the node's own latency (it varies by a millisecond from minute to minute
    on this box) falls on every path alike; failed requests count as NaN."""
    clients = {name: RecommenderClient(url) for name, url in paths.items()}
    for i in range(100):  # warm-up: connections, batcher, caches
        for client in clients.values():
            client.recommend(user_id=i, k=10)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for i in range(REQUESTS):
        for name, client in clients.items():
            reply = client.recommend(user_id=i % 1_000, k=10)
            samples[name].append(reply.latency_s * 1e3 if reply.error is None else float("nan"))
    return samples


def _percentiles(values: list[float]) -> dict[str, float]:
    ok = sorted(v for v in values if v == v)
    return {"p50": round(statistics.median(ok), 3), "p99": round(ok[int(len(ok) * 0.99) - 1], 3), "ok": len(ok)}


def _client_worker(url: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import threading

    counts = [0] * THREADS_PER_PROCESS
    deadline = time.monotonic() + seconds

    def loop(slot: int) -> None:
        client = RecommenderClient(url)
        i = 0
        while time.monotonic() < deadline and i < 1_000_000:
            if client.recommend(user_id=i % 1_000, k=10).error is None:
                counts[slot] += 1
            i += 1

    threads = [threading.Thread(target=loop, args=(s,)) for s in range(THREADS_PER_PROCESS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(sum(counts))


def _throughput(url: str) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(target=_client_worker, args=(url, THROUGHPUT_S, queue)) for _ in range(CLIENT_PROCESSES)
    ]
    for w in workers:
        w.start()
    total = sum(queue.get(timeout=THROUGHPUT_S + 30) for _ in workers)
    for w in workers:
        w.join(timeout=10)
    return total / THROUGHPUT_S


def _print(console: Console, f: dict) -> None:  # type: ignore[type-arg]
    table = Table(title="drillkit 2x2 stack on this machine", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_row("up (model built)", f"{f['up_s']} s", "<= 30 s")
    table.add_row("stack memory RSS / PSS", f"{f['stack_rss_mib']} / {f['stack_pss_mib']} MiB", "<= 4096 MiB")
    for path, lat in f["latency_ms"].items():
        table.add_row(f"latency {path} p50 / p99", f"{lat['p50']} / {lat['p99']} ms ({lat['ok']} ok)", "")
    table.add_row("gateway+proxy overhead (paired median)", f"{f['gateway_overhead_p50_ms']} ms", "<= 1 ms")
    table.add_row("max throughput via gateway", f"{f['gateway_throughput_rps']} req/s", "")
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
