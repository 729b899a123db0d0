"""The undo log: every fault writes how to undo it to disk *before* it acts.

One append-only JSON-lines file per environment (``<state>/<env>/undo.jsonl``), flushed and
fsynced on every line, so a runner killed at any instant leaves a record that
``drillkit recover`` (or the next rollback) replays:

>>> log = UndoLog(Path(".drillkit/local/undo.jsonl"))               # doctest: +SKIP
>>> entry = log.record("partition_region", "clear_network", {"nodes": ["primary-0"]})  # doctest: +SKIP
>>> ...inject...                                                       # doctest: +SKIP
>>> log.done(entry.id)                                                 # doctest: +SKIP

The log decides what ``recover`` does, so it is kept private (0600 in the 0700 state folder,
never written or read through a link), and a record that does not validate is a SpecError
naming its line, not a traceback.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from drillkit.errors import SpecError
from drillkit.private import append_private, private_dir, read_private

_FIX = "the undo log was damaged or forged: undo the faults by hand, then remove the file"


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
        for number, line in self._lines():
            try:
                if line.get("op") == "record":
                    entry = UndoEntry.model_validate({k: v for k, v in line.items() if k != "op"})
                    entries[entry.id] = entry
                elif line.get("op") == "done" and line.get("id") in entries:
                    done = _Done.model_validate(line)
                    entries[done.id] = entries[done.id].model_copy(update={"done_at": done.at, "error": done.error})
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(part) for part in first["loc"])
                raise SpecError(f"{self.path}:{number}", field, first["msg"], _FIX) from None
        return list(entries.values())

    def _append(self, record: dict[str, Any]) -> None:
        private_dir(self.path.parent)
        append_private(self.path, (json.dumps(record, default=str) + "\n").encode())

    def _lines(self) -> list[tuple[int, dict[str, Any]]]:
        """Every whole JSON object line with its number; a line torn by a crash is skipped."""
        data = read_private(self.path) or b""
        lines = []
        for number, raw in enumerate(data.decode(errors="replace").splitlines(), start=1):
            try:
                line = json.loads(raw)
            except (json.JSONDecodeError, RecursionError):
                continue  # torn by a crash mid-write
            if isinstance(line, dict):
                lines.append((number, line))
        return lines


class _Done(BaseModel):
    id: str
    at: float
    error: str | None = None

