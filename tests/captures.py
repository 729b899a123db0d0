"""Captures written the way the capturing tools write them, for the import tests.

HAR 1.2: entries with ISO 8601 start times, request headers (an Authorization header in every
entry: a capture holds credentials) and ``postData`` (base64 for a binary body). GoReplay:
payloads of ``"<type> <id> <ns> <latency>"`` then the raw HTTP message, between its separator;
type 1 is a request, 2 a response.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from drillkit.model.client import encode_infer
from drillkit.workload.capture import GOR_SEPARATOR

SECRET = "Bearer s3cr3t-token"  # must never reach a trace
COOKIE = "session=abc123secret"


@dataclass(frozen=True)
class Sent:
    """One request as a client sent it."""

    at: float  # epoch seconds
    path: str
    body: bytes
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


def json_body(seed: int) -> bytes:
    """A ranker request in KServe v2 JSON: one row of 16 FP32 features."""
    data = [float(x) for x in np.random.default_rng(seed).standard_normal(16).astype(np.float32)]
    return json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 16], "data": data}]}).encode()


def binary_body(seed: int) -> tuple[bytes, dict[str, str]]:
    """The same request with the binary tensor extension (its body and headers)."""
    features = np.random.default_rng(seed).standard_normal((1, 16)).astype(np.float32)
    request = encode_infer("ranker", [("features", "FP32", features)], outputs=("score",))
    return request.body, request.headers


def ranker_traffic(start: float, *, seconds: float, rate: float, binary_every: int = 3) -> list[Sent]:
    """``rate`` ranker requests a second for ``seconds``: JSON bodies, every ``binary_every``-th binary."""
    sent = []
    for i in range(int(seconds * rate)):
        if binary_every and i % binary_every == 0:
            body, headers = binary_body(i)
        else:
            body, headers = json_body(i), {"Content-Type": "application/json"}
        sent.append(Sent(start + i / rate, "/v2/models/ranker/infer", body, headers=headers))
    return sent


def har_entry(s: Sent, *, host: str = "http://shop.example", base64_body: bool | None = None) -> dict[str, object]:
    encode = base64_body if base64_body is not None else not s.body.isascii() or "Inference-Header-Content-Length" in s.headers
    post: dict[str, object] = {"mimeType": "application/json",
                               "text": base64.b64encode(s.body).decode() if encode else s.body.decode()}  # fmt: skip
    if encode:
        post["encoding"] = "base64"
    headers = {"Authorization": SECRET, "Cookie": COOKIE, **s.headers}
    request: dict[str, object] = {"method": s.method, "url": host + s.path, "httpVersion": "HTTP/1.1",
                                  "headers": [{"name": k, "value": v} for k, v in headers.items()]}  # fmt: skip
    if s.body:
        request["postData"] = post
    return {"startedDateTime": datetime.fromtimestamp(s.at, UTC).isoformat(), "time": 5, "request": request,
            "response": {"status": 200}}  # fmt: skip


def write_har(path: Path, sent: Sequence[Sent] | Sequence[dict[str, object]]) -> Path:
    entries = [har_entry(s) if isinstance(s, Sent) else s for s in sent]
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}))
    return path


def gor_request(s: Sent, *, chunked: bool = False) -> bytes:
    head = f"{s.method} {s.path} HTTP/1.1\r\nHost: shop\r\nAuthorization: {SECRET}\r\nCookie: {COOKIE}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in s.headers.items() if k.lower() != "content-length")
    if chunked:
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(s.body), s.body)
        head += "Transfer-Encoding: chunked\r\n"
    else:
        payload = s.body
        head += f"Content-Length: {len(s.body)}\r\n"
    return f"1 a1b2 {int(s.at * 1e9)} 0\n".encode() + head.encode() + b"\r\n" + payload


def gor_response(at: float) -> bytes:
    return b"2 a1b2 %d 1000\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" % int(at * 1e9)


def write_gor(path: Path, payloads: Sequence[bytes] | Sequence[Sent]) -> Path:
    raw = [gor_request(p) if isinstance(p, Sent) else p for p in payloads]
    path.write_bytes(GOR_SEPARATOR.join(raw) + GOR_SEPARATOR)
    return path
