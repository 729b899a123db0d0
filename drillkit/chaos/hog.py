"""``python -m drillkit.chaos.hog``: a real resource hog beside a node (GPU when present).

``--kind memory`` holds ``--level`` of the device's memory that no one else uses;
``--kind compute`` keeps the device busy with back-to-back matmuls (``--level``: on a GPU
the share of time busy, on CPU the share of threads). It always ends by itself after
``--duration`` seconds (a fault must never outlive its drill).

On a GPU a warm node does not notice a memory hog: torch's caching allocator keeps the
blocks of its last batches, so it never asks the driver for more. A real node fails when
it must allocate (a larger batch, a reload), so the hog makes the node allocate: every
0.2 s it signals each ``--notify-pid`` (``MEMORY_PRESSURE_SIGNAL``: the node then hands its
cached memory back after every batch) and takes its share of whatever memory came free.
At ``--level 1`` nothing is left, so the node's next batch fails with CUDA out of memory;
when the hog ends, the node's allocations succeed again. On a CPU-only machine the hog holds
``level`` x ``--cpu-memory-gib`` of RAM: at these sizes RAM pressure makes no allocation
fail (there is no OOM analogue), it only takes memory from the page cache.

>>> grab_bytes(held=0, free=10 * 2**30, level=0.5) == 5 * 2**30
True
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

TICK_S = 0.2
MIN_GRAB = 2 * 2**20  # the CUDA caching allocator's granularity for large blocks
MAX_CHUNK = 2**30
GPU_MATRIX = 8192  # an fp16 matmul of this size keeps an H100 busy for ~1-2 ms per launch


def grab_bytes(*, held: int, free: int, level: float) -> int:
    """How much more to take so the hog holds ``level`` of the memory others leave (held + free)."""
    want = int(level * (held + free)) - held
    return want if want >= MIN_GRAB else 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.kind == "memory" and not 0.0 < args.level <= 1.0:
        parser.error(f"--level {args.level}: a memory hog holds a share of the free memory, 0 < level <= 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    import torch

    from drillkit.model.recommender import resolve_device

    device = resolve_device(args.device)
    deadline = time.monotonic() + min(args.duration, 3600.0)
    print(f"hog {args.kind} level {args.level} on {device}", flush=True)
    if args.kind == "memory" and device.type == "cuda":
        _hold_gpu_memory(torch, args.level, args.notify_pid, deadline)
    elif args.kind == "memory":
        _hold_cpu_memory(torch, args.level, args.cpu_memory_gib, deadline)
    elif device.type == "cuda":
        _busy_gpu(torch, device, args.level, deadline)
    else:
        _busy_cpu(torch, args.level, deadline)
    return 0


def _hold_gpu_memory(torch: Any, level: float, notify: list[int], deadline: float) -> None:
    blocks: list[Any] = []
    held = 0
    while time.monotonic() < deadline:
        _notify(notify)
        free, _ = torch.cuda.mem_get_info()
        taken = _grab(torch, blocks, grab_bytes(held=held, free=free, level=level))
        if taken:
            held += taken
            print(f"holding {held / 2**20:.0f} MiB ({free / 2**20 - taken / 2**20:.0f} MiB left free)", flush=True)
        time.sleep(TICK_S)


def _grab(torch: Any, blocks: list[Any], size: int) -> int:
    """Allocate ``size`` bytes in chunks, halving a chunk the driver refuses; return what was taken."""
    taken, chunk = 0, MAX_CHUNK
    while size - taken >= MIN_GRAB and chunk >= MIN_GRAB:
        step = min(chunk, size - taken)
        try:
            blocks.append(torch.empty(step, dtype=torch.uint8, device="cuda").fill_(1))
            taken += step
        except torch.cuda.OutOfMemoryError:
            chunk //= 2
    return taken


def _notify(pids: list[int]) -> None:
    from drillkit.model.node import MEMORY_PRESSURE_SIGNAL

    for pid in pids:
        try:
            os.kill(pid, MEMORY_PRESSURE_SIGNAL)
        except ProcessLookupError:
            pass  # the node is down (crashed or restarted): nothing to tell


def _hold_cpu_memory(torch: Any, level: float, cpu_gib: float, deadline: float) -> None:
    block = torch.empty(int(cpu_gib * 2**30 * level) // 4, dtype=torch.float32)
    block.fill_(1.0)  # touch every page: reserved is not pressure
    print(f"holding {block.numel() * 4 / 2**20:.0f} MiB", flush=True)
    while time.monotonic() < deadline:
        time.sleep(TICK_S)


def _busy_gpu(torch: Any, device: Any, level: float, deadline: float) -> None:
    a = torch.randn(GPU_MATRIX, GPU_MATRIX, device=device, dtype=torch.float16)
    while time.monotonic() < deadline:
        started = time.perf_counter()
        for _ in range(4):
            a = torch.tanh(a @ a)
        torch.cuda.synchronize()
        if level < 1.0:  # idle in proportion, so ``level`` is the share of time the hog keeps the GPU
            time.sleep((time.perf_counter() - started) * (1.0 - level) / max(level, 0.01))


def _busy_cpu(torch: Any, level: float, deadline: float) -> None:
    torch.set_num_threads(max(1, round(level * (os.cpu_count() or 1))))
    a = torch.randn(1024, 1024)
    while time.monotonic() < deadline:
        a = torch.tanh(a @ a)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drillkit.chaos.hog")
    p.add_argument("--kind", choices=("memory", "compute"), required=True)
    p.add_argument("--level", type=float, default=0.5, help="memory: share of the memory others leave; compute: share of time (GPU) or threads (CPU)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--duration", type=float, default=600.0)
    p.add_argument("--cpu-memory-gib", type=float, default=2.0, help="on CPU, memory pressure is level x this")
    p.add_argument("--notify-pid", type=int, action="append", default=[], help="a node to signal MEMORY_PRESSURE_SIGNAL (GPU memory hog)")
    return p


if __name__ == "__main__":
    sys.exit(main())
