"""The undo log: every fault writes how to undo it to disk *before* it acts.

One append-only JSON-lines file per environment (``<state>/<env>/undo.jsonl``), flushed and
fsynced on every line, so a runner killed at any instant leaves a record that
``drillkit recover`` (or the next rollback) replays:

>>> log = UndoLog(Path(".drillkit/local/undo.jsonl"))               # doctest: +SKIP
>>> entry = log.record("partition_region", "clear_network", {"nodes": ["primary-0"]})  # doctest: +SKIP
>>> ...inject...                                                       # doctest: +SKIP
>>> log.done(entry.id)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel


class UndoEntry(BaseModel):
    """A pending or finished undo: which fault, and which undo function with what arguments."""

    id: str
    fault: str
    undo: str  # name of a function in drillkit.chaos.undo.UNDOS
    args: dict[str, Any]
    recorded_at: float
    done_at: float | None = None
    error: str | None = None


class UndoLog:
    """Append-only record of undos for one environment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, fault: str, undo: str, args: dict[str, Any]) -> UndoEntry:
        """Write the undo first (fsynced); the caller injects only after this returns."""
        entry = UndoEntry(id=uuid.uuid4().hex[:12], fault=fault, undo=undo, args=args, recorded_at=time.time())
        self._append({"op": "record", **entry.model_dump()})
        return entry

    def done(self, entry_id: str, error: str | None = None) -> None:
        """Mark an undo as carried out (or failed, with the error)."""
        self._append({"op": "done", "id": entry_id, "at": time.time(), "error": error})

    def pending(self) -> list[UndoEntry]:
        """Undos recorded and not yet carried out, newest first (the order to undo in)."""
        return [e for e in self.entries() if e.done_at is None or e.error is not None][::-1]

    def entries(self) -> list[UndoEntry]:
        """Every recorded undo with its latest status, oldest first."""
        entries: dict[str, UndoEntry] = {}
        for line in self._lines():
            if line.get("op") == "record":
                entries[line["id"]] = UndoEntry.model_validate({k: v for k, v in line.items() if k != "op"})
            elif line.get("op") == "done" and line.get("id") in entries:
                entries[line["id"]] = entries[line["id"]].model_copy(update={"done_at": line["at"], "error": line["error"]})
        return list(entries.values())

    def _lines(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        lines = []
        for raw in text.splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write: everything before it stands
        return lines

    def _append(self, line: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
