"""Captured traffic as a KServe v2 trace: ``drillkit traffic import``.

Reads the inference requests users sent from a capture, keeps their timing, and writes them as
a trace (``drillkit.workload.trace``):

- HAR 1.2 (a browser's or a proxy's export);
- GoReplay ``.gor`` files (``gor --input-raw :8000 --output-file requests.gor``);
- mitmproxy flow files (``mitmdump -w flows``), read by the user's own mitmproxy
  (``drillkit.workload.mitm``).

Only ``POST /v2/models/<model>[/versions/<v>]/infer`` requests are kept, with a JSON body or
the binary tensor extension (``Inference-Header-Content-Length``). Headers are never written:
a capture holds credentials and cookies, a trace holds the model's inputs only. Every capture
is untrusted: it is size-bounded, and a request that cannot be read is counted as skipped, with
its reason, never half-written.

>>> report = import_capture(Path("capture.har"), Path("trace.jsonl"))   # doctest: +SKIP
>>> report.kept                                                        # doctest: +SKIP
{'ranker': 1800}
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from drillkit.errors import SpecError
from drillkit.workload.tensors import DTYPES, Tensor, to_json
from drillkit.workload.trace import MAX_ROW_BYTES, MAX_ROWS, write_kserve

MAX_CAPTURE_BYTES = 1 << 30
INFER_PATH = re.compile(r"/v2/models/([A-Za-z0-9_.-]{1,128})(?:/versions/([0-9]{1,19}))?/infer")
GOR_SEPARATOR = "\n\U0001f435\U0001f648\U0001f649\n".encode()  # GoReplay's payload separator
HEADER_LENGTH = "inference-header-content-length"


@dataclass(frozen=True)
class Captured:
    """One inference request as captured: when it was sent (epoch s), where, and its body."""

    at: float
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; read, never written
    body: bytes


@dataclass
class ImportReport:
    """What an import kept (requests per model) and skipped (count per reason)."""

    capture: str
    format: str
    trace: str = ""
    kept: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"capture": self.capture, "format": self.format, "trace": self.trace, "kept": self.kept,
                "skipped": self.skipped, "duration_s": round(self.duration_s, 3)}  # fmt: skip


def import_capture(capture: Path, out: Path, *, models: Sequence[str] = (), mitmdump: str | None = None) -> ImportReport:
    """Read ``capture`` (HAR, GoReplay or a mitmproxy flow file, read by ``mitmdump``), keep its
    inference requests (of ``models``, when given), write them to ``out`` (.jsonl or .parquet);
    SpecError names the file when nothing is usable."""
    kind = capture_format(capture)
    report = ImportReport(str(capture), kind)
    skipped: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for request in _requests(capture, kind, mitmdump):
        row, reason = _row(request, models)
        if reason:
            skipped[reason] += 1
        elif row is not None:
            rows.append(row)
            if len(rows) > MAX_ROWS:
                raise SpecError(str(capture), "-", f"more than {MAX_ROWS} inference requests", "import a shorter capture")
    report.skipped = dict(skipped)
    if not rows:
        shown = ", ".join(f"{n} {why}" for why, n in skipped.most_common()) or "no requests at all"
        raise SpecError(str(capture), "-", f"holds no KServe v2 inference request to keep ({shown})",
                        "capture POST /v2/models/<model>/infer requests (HAR 1.2, GoReplay .gor or mitmproxy flows)")  # fmt: skip
    rows.sort(key=lambda r: r["offset_s"])
    start = rows[0]["offset_s"]
    for r in rows:
        r["offset_s"] = round(r["offset_s"] - start, 6)
    report.kept = dict(Counter(r["model"] for r in rows))
    report.duration_s = rows[-1]["offset_s"]
    report.trace = str(write_kserve(rows, out))
    return report


def _requests(capture: Path, kind: str, mitmdump: str | None) -> Iterator[Captured]:
    if kind == "har":
        return read_har(capture)
    if kind == "gor":
        return read_gor(capture)
    from drillkit.workload.mitm import read_mitm  # imports this module: its Captured

    return read_mitm(capture, mitmdump=mitmdump)


def capture_format(path: Path) -> str:
    """``har``, ``gor`` or ``mitmproxy``, from the file's first bytes (a suffix may lie); SpecError otherwise."""
    if not path.is_file() or path.is_symlink():
        raise SpecError(str(path), "-", "capture file not found (or a link)", "pass a HAR or GoReplay capture")
    if path.stat().st_size > MAX_CAPTURE_BYTES:
        raise SpecError(str(path), "-", f"larger than {MAX_CAPTURE_BYTES >> 20} MiB", "import a shorter capture")
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
    if head.startswith(b"{"):
        return "har"
    if re.match(rb"[123] [0-9a-f]+ [0-9]+", head):
        return "gor"
    if re.match(rb"[0-9]+:", head):  # a tnetstring: mitmproxy's own flow file
        return "mitmproxy"
    raise SpecError(str(path), "-", "neither HAR 1.2 (JSON), a GoReplay capture nor a mitmproxy flow file",
                    "pass a .har, a .gor or a mitmproxy flow file")  # fmt: skip


def read_har(path: Path) -> Iterator[Captured]:
    """The requests of a HAR 1.2 file (``log.entries[].request``)."""
    try:
        har = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise SpecError(str(path), "-", f"not JSON ({str(exc)[:80]})", "pass a HAR 1.2 export") from None
    entries = har.get("log", {}).get("entries") if isinstance(har, dict) and isinstance(har.get("log"), dict) else None
    if not isinstance(entries, list):
        raise SpecError(str(path), "log.entries", "missing: not a HAR file", "pass a HAR 1.2 export")
    for n, entry in enumerate(entries):
        yield _har_request(str(path), n, entry)


def _har_request(file: str, n: int, entry: Any) -> Captured:
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict):
        raise SpecError(file, f"log.entries[{n}].request", "missing", "pass a HAR 1.2 export")
    try:
        at = datetime.fromisoformat(str(entry.get("startedDateTime"))).timestamp()
    except ValueError:
        raise SpecError(file, f"log.entries[{n}].startedDateTime", f"{str(entry.get('startedDateTime'))[:40]!r} is not "
                        "an ISO 8601 time", "pass a HAR 1.2 export") from None  # fmt: skip
    headers = {str(h.get("name", "")).lower(): str(h.get("value", "")) for h in request.get("headers") or [] if isinstance(h, dict)}
    post = request.get("postData") if isinstance(request.get("postData"), dict) else {}
    text = post.get("text") or ""
    if not isinstance(text, str):
        text = ""
    try:  # HAR has no request-body encoding; tools that keep binary bodies mark them base64
        body = base64.b64decode(text, validate=True) if post.get("encoding") == "base64" else text.encode("utf-8", "surrogateescape")
    except ValueError:
        body = b""
    return Captured(at, str(request.get("method", "")).upper(), urlsplit(str(request.get("url", ""))).path, headers, body)


def read_gor(path: Path) -> Iterator[Captured]:
    """The requests (payload type 1) of a GoReplay capture."""
    for payload in path.read_bytes().split(GOR_SEPARATOR):
        meta, _, raw = payload.lstrip(b"\n").partition(b"\n")
        parts = meta.split()
        if len(parts) < 3 or parts[0] != b"1" or not parts[2].isdigit():
            continue  # a response (2, 3) or damage: only requests are replayed
        yield _http_request(int(parts[2]) / 1e9, raw)


def _http_request(at: float, raw: bytes) -> Captured:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    request_line = lines[0].decode("latin-1").split(" ")
    method, target = (request_line + ["", ""])[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunked(body)
    elif headers.get("content-length", "").isdigit():
        body = body[: int(headers["content-length"])]
    return Captured(at, method.upper(), urlsplit(target).path, headers, body)


def _dechunked(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            return b""
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


def _row(request: Captured, models: Sequence[str]) -> tuple[dict[str, Any] | None, str | None]:
    """The trace row of a captured request, or the reason it is skipped."""
    match = INFER_PATH.fullmatch(request.path)
    if request.method != "POST" or match is None:
        return None, "not an inference request"
    model, version = match.group(1), match.group(2)
    if models and model not in models:
        return None, "another model"
    if len(request.body) > MAX_ROW_BYTES:
        return None, "a body over 1 MiB"
    try:
        inputs = kserve_inputs(request.body, request.headers.get(HEADER_LENGTH))
    except (ValueError, KeyError, TypeError, struct.error, RecursionError):
        return None, "a body that is not a KServe v2 request"
    row: dict[str, Any] = {"offset_s": request.at, "model": model, "inputs": inputs}
    if version:
        row["version"] = version
    return row, None


def kserve_inputs(body: bytes, header_length: str | None) -> list[dict[str, Any]]:
    """The inputs of a KServe v2 request body as JSON tensors (binary tensors read into ``data``);
    ValueError when the body is not one."""
    length = int(header_length) if header_length else len(body)
    if not 0 < length <= len(body):
        raise ValueError("bad Inference-Header-Content-Length")
    request = json.loads(body[:length])
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise ValueError("no inputs")
    blob, offset, tensors = body[length:], 0, []
    for raw in request["inputs"]:
        size = (raw.get("parameters") or {}).get("binary_data_size")
        if size is None:
            tensor = Tensor.of({k: v for k, v in raw.items() if k != "parameters"})
        else:
            chunk = blob[offset : offset + int(size)]
            offset += int(size)
            if len(chunk) != int(size):
                raise ValueError("binary data shorter than declared")
            data = _binary(chunk, str(raw["datatype"]))
            tensor = Tensor.of({"name": raw["name"], "datatype": raw["datatype"], "shape": raw["shape"], "data": data})
        if tensor.datatype == "BYTES" and not all(isinstance(x, bytes | str) for x in tensor.array.reshape(-1)):
            raise ValueError("BYTES elements that are not text")
        tensors.append(to_json(tensor))
    return tensors


def _binary(chunk: bytes, datatype: str) -> list[Any]:
    if datatype == "BYTES":  # each element: a 4-byte little-endian length, then its bytes
        items, at = [], 0
        while at < len(chunk):
            (n,) = struct.unpack_from("<I", chunk, at)
            items.append(chunk[at + 4 : at + 4 + n].decode("utf-8"))
            at += 4 + n
        return items
    if datatype == "BOOL":
        return np.frombuffer(chunk, np.bool_).tolist()
    return np.frombuffer(chunk, np.dtype(DTYPES[datatype]).newbyteorder("<")).tolist()


__all__ = ["ImportReport", "capture_format", "import_capture", "kserve_inputs", "read_gor", "read_har"]
