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

import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from drillkit.timeline import append_line, read_lines


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
        append_line(self.path, {"op": "record", **entry.model_dump()})
        return entry

    def done(self, entry_id: str, error: str | None = None) -> None:
        """Mark an undo as carried out (or failed, with the error)."""
        append_line(self.path, {"op": "done", "id": entry_id, "at": time.time(), "error": error})

    def pending(self) -> list[UndoEntry]:
        """Undos recorded and not yet carried out, newest first (the order to undo in)."""
        return [e for e in self.entries() if e.done_at is None or e.error is not None][::-1]

    def entries(self) -> list[UndoEntry]:
        """Every recorded undo with its latest status, oldest first."""
        entries: dict[str, UndoEntry] = {}
        for line in read_lines(self.path):
            if line.get("op") == "record":
                entries[line["id"]] = UndoEntry.model_validate({k: v for k, v in line.items() if k != "op"})
            elif line.get("op") == "done" and line.get("id") in entries:
                entries[line["id"]] = entries[line["id"]].model_copy(update={"done_at": line["at"], "error": line["error"]})
        return list(entries.values())

