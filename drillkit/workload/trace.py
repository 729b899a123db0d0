"""KServe v2 traces: any model's requests, one per row, read from JSON Lines or Parquet.

| field | type | meaning |
|---|---|---|
| ``offset_s`` | number >= 0 | when to send, seconds from the start of the replay |
| ``model`` | text | the model's name (``/v2/models/<model>/infer``) |
| ``version`` | text, optional | a Triton model version to pin (``.../versions/<v>/infer``) |
| ``inputs`` | list of KServe v2 JSON tensors | the request's inputs, or: |
| ``body`` | a KServe v2 JSON request (``{"inputs": [...]}``) | the whole body as captured |

In Parquet, ``inputs`` and ``body`` are JSON text. Every row is untrusted: its tensors are
validated (names, datatypes, shapes, element counts), and an error names the file and the
line (JSON Lines) or row (Parquet). Before a replay the rows are checked against the live
models' metadata (:func:`check_live`), so a trace for another model is refused before any
load is sent, naming its first wrong row.

>>> trace = read_kserve("loadtests/traces/ranker.jsonl")   # doctest: +SKIP
>>> trace.kinds()                                           # doctest: +SKIP
{'ranker': 1800}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drillkit.errors import SpecError
from drillkit.model.client import EncodedRequest, encode_infer
from drillkit.spec.safe import MAX_SECONDS
from drillkit.trace import Trace
from drillkit.workload.metadata import ModelMetadata, mismatch
from drillkit.workload.tensors import Tensor, to_json

MAX_ROWS = 1_000_000
MAX_ROW_BYTES = 1 << 20  # one request's JSON; a larger one is no inference request a drill replays
MAX_FILE_BYTES = 4 << 30
MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
FIELDS = ("offset_s", "model", "version", "inputs", "body")
# The frame: kind is the model, inputs canonical JSON, signature the inputs' names, types and shapes
COLUMNS = ("offset_s", "kind", "version", "inputs", "signature")
_FIX = "write one request per row: offset_s, model, optional version, and inputs (KServe v2 tensors) or body"


@dataclass(frozen=True)
class Request:
    """One probe request: a model, an optional Triton version, and its inputs."""

    model: str
    inputs: tuple[Tensor, ...]
    version: str | None = None
    where: str = ""  # where the request came from (a trace row), for errors


def is_kserve(path: Path) -> bool:
    """A JSON Lines file, or a Parquet file with a ``model`` column (a recsys trace has ``kind``)."""
    if path.suffix in (".jsonl", ".ndjson"):
        return True
    if path.suffix != ".parquet" or not path.is_file():
        return False
    import pyarrow.parquet as pq

    try:
        return "model" in pq.read_schema(path).names
    except Exception:  # noqa: BLE001  (the reader that follows says what is wrong with the file)
        return False


def read_kserve(path: str | Path) -> pd.DataFrame:
    """The trace's rows as a frame of ``COLUMNS``, sorted by ``offset_s``; SpecError names the row."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), "-", "trace file not found", "pass a trace file (.jsonl or .parquet)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SpecError(str(path), "-", f"larger than {MAX_FILE_BYTES >> 30} GiB", "split the trace")
    rows = _jsonl_rows(path) if path.suffix in (".jsonl", ".ndjson") else _parquet_rows(path)
    records = [_row(str(path), where, raw) for where, raw in rows]
    if not records:
        raise SpecError(str(path), "-", "the trace has no rows", _FIX)
    frame = pd.DataFrame(records, columns=list(COLUMNS))
    frame["offset_s"] = frame["offset_s"].astype("float64")
    return frame.sort_values("offset_s", kind="stable").reset_index(drop=True)


def requests_of(frame: pd.DataFrame, file: str) -> list[Request]:
    """Every row of a read trace as a probe request (``where`` names its row after sorting)."""
    return [Request(m, _tensors(text), version=v or None, where=f"{file} request {i + 1}")
            for i, (m, v, text) in enumerate(zip(frame["kind"], frame["version"], frame["inputs"], strict=True))]  # fmt: skip


def trace_requests(trace: Trace) -> list[Request]:
    """A read trace's rows as probe requests: KServe rows as they are, a recsys trace's rows as
    the built-in recommender's tensors."""
    if trace.format == "kserve":
        return requests_of(trace.frame, trace.path)
    f = trace.frame
    requests = []
    for i, (kind, user, query, k) in enumerate(zip(f["kind"], f["user_id"], f["query"], f["k"], strict=True)):
        tensors = (Tensor("user_id", "INT64", np.array([[user]], np.int64)), Tensor("k", "INT32", np.array([[k]], np.int32)))
        if kind == "search":
            tensors = (Tensor("query", "BYTES", np.array([[query.encode()]], dtype=np.object_)), *tensors)
        requests.append(Request(kind, tensors, where=f"{trace.path} request {i + 1}"))
    return requests


def encode_row(model: str, version: str, inputs: str) -> EncodedRequest:
    """A read row's inference request. No outputs are named: tritonclient then asks for every
    output as binary (``binary_data_output``), and the load generator's structural check of
    an answer needs no knowledge of the model."""
    tensors = _tensors(inputs)
    return encode_infer(model, [(t.name, t.datatype, t.array) for t in tensors], outputs=(), version=version or None)


def check_live(frame: pd.DataFrame, file: str, metadata: dict[str, ModelMetadata]) -> None:
    """Refuse the first row the live models would refuse (an unknown model, other inputs)."""
    unknown = sorted(set(frame["kind"]) - set(metadata))
    if unknown:
        first = int((frame["kind"] == unknown[0]).to_numpy().argmax())
        raise SpecError(file, f"request {first + 1}, model", f"the environment serves no model {unknown[0]}",
                        f"replay requests for {', '.join(sorted(metadata))}")  # fmt: skip
    seen: set[tuple[str, str]] = set()
    for i, (model, text, shape) in enumerate(zip(frame["kind"], frame["inputs"], frame["signature"], strict=True)):
        if (model, shape) in seen:  # most rows share a few shapes: check each once
            continue
        seen.add((model, shape))
        problem = mismatch(metadata[model], _tensors(text))
        if problem:
            raise SpecError(file, f"request {i + 1}, inputs", problem, f"send the inputs model {model} declares")


def write_kserve(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows (``offset_s``, ``model``, optional ``version``, ``inputs``) as JSON Lines or Parquet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame = pd.DataFrame({"offset_s": [float(r["offset_s"]) for r in rows], "model": [r["model"] for r in rows],
                              "version": [r.get("version") or "" for r in rows],
                              "inputs": [json.dumps(r["inputs"], separators=(",", ":")) for r in rows]})  # fmt: skip
        frame.to_parquet(path, index=False)
    else:
        with path.open("w") as handle:
            for r in rows:
                handle.write(json.dumps(r, separators=(",", ":")) + "\n")
    return path


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number > MAX_ROWS:
                raise SpecError(str(path), f"line {number}", f"more than {MAX_ROWS} requests", "split the trace")
            if len(line) > MAX_ROW_BYTES:
                raise SpecError(str(path), f"line {number}", f"longer than {MAX_ROW_BYTES >> 10} KiB", _FIX)
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise SpecError(str(path), f"line {number}", f"not JSON ({str(exc)[:80]})", _FIX) from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a damaged file)
        raise SpecError(str(path), "-", f"cannot be read as Parquet ({str(exc)[:120]})", _FIX) from None
    if table.num_rows > MAX_ROWS:
        raise SpecError(str(path), "-", f"{table.num_rows} requests, more than {MAX_ROWS}", "split the trace")
    extra = [c for c in table.column_names if c not in FIELDS]
    if extra:
        raise SpecError(str(path), f"column {extra[0]}", "not a KServe trace column", f"columns are {', '.join(FIELDS)}")
    columns = {c: table.column(c).to_pylist() for c in table.column_names}
    for i in range(table.num_rows):
        row = {c: v[i] for c, v in columns.items() if v[i] is not None}
        for key in ("inputs", "body"):
            if isinstance(row.get(key), str):
                if len(row[key]) > MAX_ROW_BYTES:
                    raise SpecError(str(path), f"row {i + 1}, column {key}", f"longer than {MAX_ROW_BYTES >> 10} KiB", _FIX)
                try:
                    row[key] = json.loads(row[key])
                except (ValueError, RecursionError):
                    raise SpecError(str(path), f"row {i + 1}, column {key}", "not JSON text", _FIX) from None
        if row.get("version") == "":
            row.pop("version")
        yield f"row {i + 1}", row


def _row(file: str, where: str, raw: Any) -> tuple[float, str, str, str, str]:
    def bad(field: str, problem: str) -> SpecError:
        return SpecError(file, f"{where}, {field}", problem, _FIX)

    if not isinstance(raw, dict):
        raise bad("-", "a row is a JSON object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise bad(unknown[0], f"unknown field (fields are {', '.join(FIELDS)})")
    offset = raw.get("offset_s")
    if isinstance(offset, bool) or not isinstance(offset, int | float) or not 0 <= offset <= MAX_SECONDS or not math.isfinite(offset):
        raise bad("offset_s", f"{str(offset)[:40]} must be a number 0..{MAX_SECONDS:g}")
    model = raw.get("model")
    if not isinstance(model, str) or not MODEL_NAME.fullmatch(model):
        raise bad("model", f"{str(model)[:60]!r} is not a model name (letters, digits, _ . -)")
    version = raw.get("version", "")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or (version and not version.isdigit()) or len(version) > 19:
        raise bad("version", f"{str(version)[:40]!r} is not a Triton model version (a number)")
    if ("inputs" in raw) == ("body" in raw):
        raise bad("inputs", "give inputs or body, one of them")
    inputs = raw["inputs"] if "inputs" in raw else _body_inputs(raw["body"], bad)
    if not isinstance(inputs, list) or not inputs or len(inputs) > 64:
        raise bad("inputs", "a list of 1..64 KServe v2 tensors")
    tensors = []
    for n, t in enumerate(inputs):
        try:
            tensors.append(Tensor.of(t))
        except ValueError as exc:
            raise bad(f"inputs[{n}]", str(exc)[:200]) from None
    if len({t.name for t in tensors}) != len(tensors):
        raise bad("inputs", "two inputs have the same name")
    text = json.dumps([to_json(t) for t in tensors], separators=(",", ":"), allow_nan=True)
    signature = ";".join(f"{t.name}:{t.datatype}:{list(t.array.shape)}" for t in tensors)
    return float(offset), model, version, text, signature


def _body_inputs(body: Any, bad: Any) -> Any:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            raise bad("body", "not JSON text") from None
    if not isinstance(body, dict) or "inputs" not in body:
        raise bad("body", 'a KServe v2 request, {"inputs": [...]}')
    return body["inputs"]


def _tensors(text: str) -> tuple[Tensor, ...]:
    return tuple(Tensor.of(t) for t in json.loads(text))


__all__ = ["MAX_ROWS", "Request", "check_live", "encode_row", "is_kserve", "read_kserve", "requests_of", "trace_requests", "write_kserve"]
