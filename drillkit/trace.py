"""Traffic traces: one row per request to replay, read from CSV or Parquet and validated.

| column | type | meaning |
|---|---|---|
| ``offset_s`` | float >= 0 | when to send, seconds from the start of the replay |
| ``kind`` | ``search`` or ``recommend`` | which model |
| ``user_id`` | int >= 0 | the user the request is for |
| ``query`` | text | the search text (required for ``search``, empty for ``recommend``) |
| ``k`` | int 1..1000 | how many items to return |
| ``session_id`` | text, optional | groups a search and the recommends that follow it |

A trace of any model's KServe v2 requests (JSON Lines, or Parquet with a ``model`` column) is
read by ``drillkit.workload.trace``; its frame's ``kind`` is the model.

>>> trace = read_trace("loadtests/traces/sample.csv")   # doctest: +SKIP
>>> trace.kinds()                                         # doctest: +SKIP
{'search': 412, 'recommend': 788}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from drillkit.errors import SpecError
from drillkit.spec.safe import MAX_SECONDS

COLUMNS = ("offset_s", "kind", "user_id", "query", "k", "session_id")
REQUIRED = ("offset_s", "kind", "user_id", "k")
KINDS = ("search", "recommend")
MAX_K = 1000
MAX_USER_ID = 2**53  # user ids travel as float64 in CSV and JSON; above this they are no longer exact


@dataclass(frozen=True)
class Trace:
    """A validated trace, sorted by ``offset_s``; ``frame`` has exactly ``COLUMNS`` (recsys) or
    ``drillkit.workload.trace.COLUMNS`` (kserve)."""

    path: str
    frame: pd.DataFrame
    format: Literal["recsys", "kserve"] = "recsys"

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def duration_s(self) -> float:
        return float(self.frame["offset_s"].iloc[-1]) if len(self.frame) else 0.0

    def kinds(self) -> dict[str, int]:
        """Request count per kind."""
        return {str(k): int(v) for k, v in self.frame["kind"].value_counts().items()}


def read_trace(path: str | Path, *, max_user_id: int | None = None) -> Trace:
    """Read and validate a trace; every problem names the file, row and column."""
    from drillkit.workload.trace import is_kserve, read_kserve

    path = Path(path)
    if is_kserve(path):
        return Trace(str(path), read_kserve(path), format="kserve")
    frame = _load(path)
    _check(str(path), frame, max_user_id)
    return Trace(str(path), _normalise(frame))


def write_trace(trace: pd.DataFrame, path: str | Path) -> Path:
    """Write a trace as Parquet (``.parquet``) or CSV (anything else)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = _normalise(trace)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _load(path: Path) -> pd.DataFrame:
    if path.is_dir():
        raise SpecError(str(path), "-", "is a directory, not a trace file", "pass a trace, e.g. loadtests/traces/sample.csv")
    if not path.is_file():
        raise SpecError(str(path), "-", "trace file not found", "pass a trace, e.g. loadtests/traces/sample.csv")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"query": "string", "session_id": "string"}, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for a malformed file
        raise SpecError(str(path), "-", f"cannot be read as {path.suffix or 'CSV'} ({exc})", "write CSV or Parquet with the trace columns") from None


def _check(file: str, frame: pd.DataFrame, max_user_id: int | None) -> None:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise SpecError(file, ", ".join(missing), "required column missing", f"columns are {', '.join(COLUMNS)}")
    if len(frame) == 0:
        raise SpecError(file, "-", "the trace has no rows", "synthesize one with `drillkit traffic synth`")
    # Bounded above, so no `inf` offset makes a trace "last forever" and no huge id overflows int64.
    _check_numeric(file, frame, "offset_s", lambda s: (s >= 0) & (s <= MAX_SECONDS), f"must be a number 0..{MAX_SECONDS:g}")
    _check_numeric(file, frame, "user_id", lambda s: (s >= 0) & (s <= MAX_USER_ID) & (s == np.floor(s)),
                   f"must be an integer 0..{MAX_USER_ID}")  # fmt: skip
    _check_numeric(file, frame, "k", lambda s: (s >= 1) & (s <= MAX_K) & (s == np.floor(s)), f"must be an integer 1..{MAX_K}")
    if max_user_id is not None:
        _check_numeric(file, frame, "user_id", lambda s: s <= max_user_id, f"must be <= {max_user_id} (the model's users)")
    bad_kind = ~frame["kind"].isin(KINDS)
    if bad_kind.any():
        row = int(np.argmax(bad_kind.to_numpy()))
        raise SpecError(file, f"row {row + 2}, column kind", f"unknown kind {frame['kind'].iloc[row]!r}", "use search or recommend")
    queries = frame["query"].fillna("").astype(str) if "query" in frame.columns else pd.Series([""] * len(frame))
    empty_search = (frame["kind"] == "search").to_numpy() & (queries.str.strip() == "").to_numpy()
    if empty_search.any():
        row = int(np.argmax(empty_search))
        raise SpecError(file, f"row {row + 2}, column query", "a search row has no query", "give every search row a query text")


def _check_numeric(file: str, frame: pd.DataFrame, column: str, ok: object, rule: str) -> None:
    values = pd.to_numeric(frame[column], errors="coerce")
    if values.dtype.kind not in "biuf":  # complex or objects pandas could not coerce: not a number at all
        values = pd.Series(np.nan, index=frame.index)
    good = values.notna() & ok(values)  # type: ignore[operator]
    if not good.all():
        row = int(np.argmax(~good.to_numpy()))
        shown = repr(frame[column].iloc[row])[:60]  # a hostile cell may be megabytes long
        raise SpecError(file, f"row {row + 2}, column {column}", f"{shown} {rule}", f"correct row {row + 2}")


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "offset_s": pd.to_numeric(frame["offset_s"]).astype("float64"),
            "kind": frame["kind"].astype(str),
            "user_id": pd.to_numeric(frame["user_id"]).astype("int64"),
            "query": frame["query"].fillna("").astype(str) if "query" in frame else "",
            "k": pd.to_numeric(frame["k"]).astype("int32"),
            "session_id": frame["session_id"].fillna("").astype(str) if "session_id" in frame else "",
        }
    )
    return out.sort_values("offset_s", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class TraceStats:
    """What ``drillkit traffic stats`` prints."""

    requests: int
    duration_s: float
    mean_rps: float
    mix: dict[str, float]  # share per kind (the model, in a kserve trace)
    format: str
    users: int  # distinct users (0 in a kserve trace: a request's inputs are the model's own)
    sessions: int  # distinct non-empty session ids
    rate_rps: list[tuple[float, float]]  # (bucket start s, requests/s)
    top_queries: list[tuple[str, int]]


def summarize(trace: Trace, *, buckets: int = 12, top: int = 10) -> TraceStats:
    """Rate over time, mix, distinct users and sessions, and the most frequent queries."""
    frame = trace.frame
    duration = max(trace.duration_s, 1e-9)
    edges = np.linspace(0.0, duration, buckets + 1)
    counts, _ = np.histogram(frame["offset_s"], bins=edges)
    width = duration / buckets
    recsys = trace.format == "recsys"
    queries = frame.loc[frame["kind"] == "search", "query"].value_counts().head(top) if recsys else pd.Series(dtype=int)
    return TraceStats(
        requests=len(frame),
        duration_s=duration,
        mean_rps=len(frame) / duration,
        mix={k: v / len(frame) for k, v in trace.kinds().items()},
        format=trace.format,
        users=int(frame["user_id"].nunique()) if recsys else 0,
        sessions=int(frame.loc[frame["session_id"] != "", "session_id"].nunique()) if recsys else 0,
        rate_rps=[(float(edges[i]), float(counts[i] / width)) for i in range(buckets)],
        top_queries=[(str(q), int(c)) for q, c in queries.items()],
    )
