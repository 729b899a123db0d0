"""Fault stages of ``bench_gpu``: the same load before, during and after a real hog beside the node.

The hog is the one drills use (``python -m drillkit.chaos.hog``), on the node's device, told
the node's PID so that a GPU memory hog can make the node hand back its cached memory. Each
fault gives three rows (``baseline``, ``<kind> hog``, ``after``) so its effect on p99 and
errors, and the recovery, are measured under identical offered load.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from drillkit import supervise

SETTLE_S = 3.0  # the hog takes its share; the node's pressure mode ends 3 s after the last signal

Stage = Callable[[], dict]  # type: ignore[type-arg]


def hog_command(kind: str, level: float, device: str, node_pid: int, duration_s: float) -> list[str]:
    """The hog's command line, as the local platform starts it, plus the node to notify."""
    return [sys.executable, "-m", "drillkit.chaos.hog", "--kind", kind, "--level", str(level), "--device", device,
            "--duration", str(duration_s), "--notify-pid", str(node_pid)]  # fmt: skip


def fault_rows(stage: Stage, kinds: list[str], *, level: float, device: str, node_pid: int, seconds: float,
               logs: Path) -> list[dict]:  # type: ignore[type-arg]  # fmt: skip
    """Baseline, under the hog and after it, for every kind of hog in ``kinds``."""
    rows = []
    for kind in kinds:
        rows.append({**stage(), "phase": "baseline"})
        log = logs / f"hog-{kind}.log"
        hog = supervise.spawn(f"hog {kind}", hog_command(kind, level, device, node_pid, seconds + 60), log_path=log)
        try:
            time.sleep(SETTLE_S)
            rows.append({**stage(), "phase": f"{kind} hog", "hog": _last_line(log)})
        finally:
            supervise.terminate([hog], grace_s=10)
        time.sleep(SETTLE_S)
        rows.append({**stage(), "phase": "after"})
    return rows


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else ""
