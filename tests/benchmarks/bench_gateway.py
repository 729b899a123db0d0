"""Benchmark: a heavy but healthy search on a busy node, against the gateway's derived per-try timeout
(``make bench``; not part of ``make test``).

A 1x1 environment (one node a region) serves a 1,000,000-item catalogue, so a search scores a
million items. ``drillkit up`` derives each model's per-try timeout from a busy node's p99.9;
then a closed-loop burst of golden probes at 8 in flight goes through the gateway for a
bounded time and count. Printed: each model's timeout and how it was derived, the burst's
latency per model through the gateway (p50 / p99 / p99.9 / max), and the gateway's retries and
the failed requests during it. A retry is a heavy search done twice; a failure is what the
per-try timeout must never cause. The burst (8 in flight) is heavier than the one the timeout is
derived from, so it shows the margin: on a 2-core machine, 24 of 1,478 requests (1.6 %) were
retried and none failed, with derived timeouts of 245-256 ms against a p99 of 301-334 ms.
Every loop is bounded, and all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drillkit.burst import BurstLimits, quantile, run_burst
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.provision import ensure_built
from drillkit.spec import load_environment
from drillkit.workload.golden import GoldenSet, golden_of

ITEMS = 1_000_000
BUSY = BurstLimits(target_s=1.0, min_requests=3000, max_requests=3000, limit_s=20.0, per_node=8, max_concurrency=8)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="drillkit-bench-gw-") as tmp:
        spec = load_environment("drills/environments/local.yaml")
        regions = tuple(r.model_copy(update={"nodes": 1}) for r in spec.regions)
        model = spec.model.model_copy(update={"items": ITEMS})
        spec = spec.model_copy(update={"state_dir": Path(tmp), "name": "bench-gw", "regions": regions, "model": model})
        started = time.perf_counter()
        version = ensure_built(spec.model, spec.state_dir / "models")
        built_s = time.perf_counter() - started
        platform = LocalPlatform(spec)
        platform.up()
        try:
            figures = _measure(platform, golden_of(version), built_s)
        finally:
            platform.down()
    _print(figures)
    print(json.dumps(figures, indent=2))


def _measure(platform: LocalPlatform, golden: GoldenSet, built_s: float) -> dict[str, object]:
    tuned = platform.try_timeouts()
    url = platform.status().gateway_url or ""
    before = platform.gateway_counters()
    burst = run_burst([url], golden, rps=1.0, latency_s=0.0, limits=BUSY)
    after = platform.gateway_counters()
    assert before is not None and after is not None
    latency = {m: {q: quantile(v, p) for q, p in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999))} | {"max": max(v)}
               for m, v in burst.by_model.items()}  # fmt: skip
    return {
        "items": ITEMS,
        "model_build_s": round(built_s, 1),
        "try_timeouts": tuned.model_dump(mode="json"),
        "burst": {"requests": burst.completed, "ok": burst.ok, "errors": burst.errors, "wrong": burst.wrong,
                  "concurrency": burst.concurrency, "elapsed_s": round(burst.elapsed_s, 2),
                  "rps": round(burst.achieved_rps, 1)},  # fmt: skip
        "latency_ms": latency,
        "gateway_retries": after.retries - before.retries,
        "gateway_requests": after.requests - before.requests,
    }


def _print(figures: dict[str, object]) -> None:
    console = Console()
    tuned = figures["try_timeouts"]
    table = Table(title=f"gateway per-try timeouts on a {ITEMS:,}-item catalogue, under {BUSY.max_concurrency} in flight")
    for column in ("model", "busy-node p99.9 at up", "per-try timeout", "p50", "p99", "p99.9", "max"):
        table.add_column(column)
    for model, q in figures["latency_ms"].items():  # type: ignore[attr-defined]
        table.add_row(model, f"{tuned['p999_ms'].get(model, '-')} ms", f"{tuned['models'][model]} ms",  # type: ignore[index]
                      *(f"{q[k]:.1f} ms" for k in ("p50", "p99", "p999", "max")))  # fmt: skip
    console.print(table)
    console.print(f"gateway retries during the burst: {figures['gateway_retries']} of {figures['gateway_requests']} "
                  f"requests; failed: {figures['burst']['errors']}")  # type: ignore[index]


if __name__ == "__main__":
    main()
