"""The answers users got from another model version than the environment's: kept so that a
rollout's wrong answers can be counted after the drill, request by request.

The load generator keeps the body of every successful response whose ``X-Drillkit-Version``
names a version other than the reference (the one the environment serves), up to a bound,
as Parquet parts beside the request log (same one-second, write-aside-then-rename parts).
In a drill without a release, nothing is kept.

>>> log = AnswerLogWriter(Path("run/answers"), worker="w0", limit=50_000)   # doctest: +SKIP
>>> log.append(AnswerRecord(17, "v2", body, 96)); log.flush()               # doctest: +SKIP
>>> read_answers(Path("run/answers")).shape                                 # doctest: +SKIP
(1, 4)
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

from drillkit.errors import SpecError
from drillkit.request_log import PartWriter

ANSWERS = "answers"
MAX_BODY_BYTES = 1 << 20
SCHEMA = pa.schema([("row", pa.int64()), ("version", pa.large_string()), ("body", pa.large_binary()), ("header_length", pa.int64())])
_FIX = "re-run the drill, or restore the run folder's answers/ from a copy"


class AnswerRecord(NamedTuple):
    row: int  # the trace row the answer was to
    version: str  # the model version that gave it
    body: bytes  # the response body as the user got it
    header_length: int  # its Inference-Header-Content-Length (0: a JSON-only answer)


class AnswerLogWriter(PartWriter):
    """Buffers one process's kept answers, at most ``limit`` of them (``dropped`` counts the rest)."""

    def __init__(self, directory: Path, *, worker: str, limit: int) -> None:
        super().__init__(directory, worker=worker, schema=SCHEMA)
        self.limit = limit
        self.kept = self.dropped = 0

    def append(self, record: tuple[object, ...]) -> None:
        assert isinstance(record, AnswerRecord)
        if self.kept >= self.limit or len(record.body) > MAX_BODY_BYTES:
            self.dropped += 1
            return
        self.kept += 1
        super().append(record)


def read_answers(directory: Path) -> pd.DataFrame:
    """Every kept answer (empty when none were); a damaged part is a SpecError naming it."""
    frames = [_read(path) for path in sorted(directory.glob("part-*.parquet"))]
    if not frames:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "version": pd.Series(dtype="object"),
                             "body": pd.Series(dtype="object"), "header_length": pd.Series(dtype="int64")})  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _read(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SpecError(str(path), "-", f"not a readable answer log ({exc})", _FIX) from None
    if table.schema.names != SCHEMA.names:
        raise SpecError(str(path), "-", f"columns {table.schema.names}, not {SCHEMA.names}", _FIX)
    frame = table.to_pandas()
    if (frame["row"] < 0).any() or (frame["header_length"] < 0).any():
        raise SpecError(str(path), "row", "holds a negative number", _FIX)
    return frame
