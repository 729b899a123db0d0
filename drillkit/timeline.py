"""Durable JSON-lines files: the drill timeline and the undo log are appended line by line.

Every line is flushed and fsynced before the call returns, so a process killed at any point
leaves every earlier line intact; a line torn by the kill is skipped when reading.

>>> append_line(Path("/tmp/t.jsonl"), {"event": "fault_injected", "at": 1.0})  # doctest: +SKIP
>>> read_lines(Path("/tmp/t.jsonl"))                                         # doctest: +SKIP
[{'event': 'fault_injected', 'at': 1.0}]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON object as a line, durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every whole line of ``path`` (none when it does not exist), in file order."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = []
    for raw in text.splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # torn by a crash mid-write
    return lines
