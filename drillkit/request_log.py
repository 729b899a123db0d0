"""The request log: one row per request, the measuring instrument of every drill.

Each load-generator process buffers rows and writes them every second as a small Parquet
part file (written to a temporary name, then renamed), so a crash loses at most the last
second and never leaves a half-written file. Readers concatenate the parts.

Writing is split in two so the load generator's event loop never waits for the disk:
``take()`` turns the buffered rows into an Arrow table (a fraction of a millisecond for a
second of rows), and ``Part.write()`` encodes and writes it, which pyarrow does without
holding the GIL, so it can run on a native thread. ``flush()`` does both at once.

>>> log = RequestLogWriter(Path("run/request_log"), worker="w0")       # doctest: +SKIP
>>> log.append(RequestRecord(...)); log.flush()                          # doctest: +SKIP
>>> read_request_log(Path("run/request_log")).shape                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from drillkit.errors import SpecError

COMPACT_NAME = "requests.parquet"
_FIX = "re-run the drill, or restore the run folder's request_log/ from a copy"


class RequestRecord(NamedTuple):
    """What the user felt for one request (times are UNIX seconds).

    A NamedTuple, not a dataclass: the load generator makes one per request on its hot path.
    """

    row: int  # the trace row replayed
    kind: str  # search | recommend
    scheduled_at: float  # when the open-loop schedule said to send it
    sent_at: float  # when it was actually sent
    latency_s: float  # send to last byte of the response (or to the error)
    outcome: str  # ok | error
    error_class: str  # '' when ok; http_5xx, http_4xx, timeout, connection_reset, connection_refused, ...
    status: int  # HTTP status, 0 when there was none
    region: str  # serving region from the gateway header ('' when unknown)
    node: str  # serving node from the gateway header ('' when unknown)
    worker: str  # which load-generator process sent it
    version: str = ""  # the model version that answered, from the gateway header ('' when unknown)


RECORD_COLUMNS = RequestRecord._fields
OPTIONAL_COLUMNS = {"version": ""}
# The Arrow types pandas wrote for these columns before parts were built with pyarrow directly.
_ARROW_TYPES = {"row": pa.int64(), "status": pa.int64(), "scheduled_at": pa.float64(), "sent_at": pa.float64(), "latency_s": pa.float64()}
SCHEMA = pa.schema([(c, _ARROW_TYPES.get(c, pa.large_string())) for c in RECORD_COLUMNS])


class Part(NamedTuple):
    """One second of records, ready to write; ``write()`` touches no shared state (thread-safe)."""

    table: pa.Table
    path: Path

    @classmethod
    def of(cls, rows: list[tuple[object, ...]], schema: pa.Schema, path: Path) -> Part:
        """Rows (tuples in the schema's column order) as one Arrow table, built column by column."""
        columns = [pa.array(values, type=kind) for values, kind in zip(zip(*rows), schema.types, strict=True)]
        return cls(pa.Table.from_arrays(columns, schema=schema), path)

    def write(self) -> Path:
        tmp = self.path.with_suffix(".tmp")
        pq.write_table(self.table, tmp)
        os.replace(tmp, self.path)
        return self.path


class PartWriter:
    """Buffers one process's rows (tuples of ``schema``) and writes them as numbered Parquet parts."""

    def __init__(self, directory: Path, *, worker: str, schema: pa.Schema) -> None:
        self.directory, self.worker, self.schema = directory, worker, schema
        self._rows: list[tuple[object, ...]] = []
        self._part = 0

    def append(self, record: tuple[object, ...]) -> None:
        self._rows.append(record)

    def take(self) -> Part | None:
        """The buffered rows as the next numbered part, not yet written (None when empty)."""
        if not self._rows:
            return None
        rows, self._rows = self._rows, []
        self.directory.mkdir(parents=True, exist_ok=True)
        part = Part.of(rows, self.schema, self.directory / f"part-{self.worker}-{self._part:06d}.parquet")
        self._part += 1
        return part

    def flush(self) -> Path | None:
        """Write the buffered rows as the next part (None when there was nothing to write)."""
        part = self.take()
        return part.write() if part is not None else None


class RequestLogWriter(PartWriter):
    """Buffers the request records of one process and writes them as numbered Parquet parts."""

    def __init__(self, directory: Path, *, worker: str) -> None:
        super().__init__(directory, worker=worker, schema=SCHEMA)
        directory.mkdir(parents=True, exist_ok=True)


def read_request_log(directory: Path) -> pd.DataFrame:
    """Every record written so far (compacted file and parts), ordered by scheduled time."""
    files = sorted(directory.glob("part-*.parquet"))
    if (directory / COMPACT_NAME).exists():
        files.insert(0, directory / COMPACT_NAME)
    if not files:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in RECORD_COLUMNS})
    frame = pd.concat([_read_part(f) for f in files], ignore_index=True)
    return frame.sort_values("scheduled_at", kind="stable").reset_index(drop=True)


def _read_part(path: Path) -> pd.DataFrame:
    """One Parquet file of the log, checked: a damaged or foreign file is a SpecError naming it."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:  # TypeError, KeyError: damaged pandas metadata
        raise SpecError(str(path), "-", f"not a readable Parquet request log ({exc})", _FIX) from None
    for column, default in OPTIONAL_COLUMNS.items():  # logs written before the column existed
        if column not in frame.columns:
            frame[column] = default
    missing = [c for c in RECORD_COLUMNS if c not in frame.columns]
    if missing:
        raise SpecError(str(path), missing[0], f"column missing (the log has {list(frame.columns)})", _FIX)
    for column in ("scheduled_at", "sent_at", "latency_s"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
            raise SpecError(str(path), column, "holds a value that is not a finite number", _FIX)
        frame[column] = values.astype("float64")
    if (frame["latency_s"] < 0).any():
        raise SpecError(str(path), "latency_s", "holds a negative latency", _FIX)
    bad = sorted(set(frame["outcome"].astype(str)) - {"ok", "error"})
    if bad:
        raise SpecError(str(path), "outcome", f"holds {bad[:3]}; an outcome is ok or error", _FIX)
    return frame[list(RECORD_COLUMNS)]


def compact(directory: Path) -> Path:
    """Merge all parts into ``requests.parquet`` (after the load stopped)."""
    frame = read_request_log(directory)
    target = directory / COMPACT_NAME
    tmp = target.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    for part in directory.glob("part-*.parquet"):
        part.unlink()
    return target


def _dtype(column: str) -> str:
    return {"row": "int64", "status": "int64"}.get(column, "float64" if column.endswith(("_at", "_s")) else "object")
