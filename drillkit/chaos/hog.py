"""``python -m drillkit.chaos.hog``: a real resource hog beside a node (GPU when present).

``--kind memory`` takes a share of the device's memory and holds it; ``--kind compute``
keeps the device busy with back-to-back matmuls. On CUDA it uses the GPU; on a CPU-only
machine it uses RAM and every CPU thread, which is what starves a CPU-served node there.
It always ends by itself after ``--duration`` seconds (a fault must never outlive its drill).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m drillkit.chaos.hog")
    parser.add_argument("--kind", choices=("memory", "compute"), required=True)
    parser.add_argument("--level", type=float, default=0.5, help="memory: share of free device memory; compute: share of threads")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--cpu-memory-gib", type=float, default=2.0, help="on CPU, memory pressure is level x this")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    import torch

    from drillkit.model.recommender import resolve_device

    device = resolve_device(args.device)
    deadline = time.monotonic() + min(args.duration, 3600.0)
    print(f"hog {args.kind} level {args.level} on {device}", flush=True)
    if args.kind == "memory":
        hold = _allocate(torch, device, args.level, args.cpu_memory_gib)
        print(f"holding {hold.numel() * hold.element_size() / 2**20:.0f} MiB", flush=True)
        while time.monotonic() < deadline:
            time.sleep(0.2)
        return 0
    threads = max(1, round(args.level * (os.cpu_count() or 1)))
    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024, device=device)
    while time.monotonic() < deadline:
        a = torch.tanh(a @ a)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return 0


def _allocate(t: object, device: object, level: float, cpu_gib: float) -> object:
    if getattr(device, "type", "cpu") == "cuda":
        free, _ = t.cuda.mem_get_info()  # type: ignore[attr-defined]
        size = int(free * level)
    else:
        size = int(cpu_gib * 2**30 * level)
    block = t.empty(size // 4, dtype=t.float32, device=device)  # type: ignore[attr-defined]
    block.fill_(1.0)  # touch every page: reserved is not pressure
    return block


if __name__ == "__main__":
    sys.exit(main())
