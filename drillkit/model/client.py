"""KServe v2 inference requests and answers for any model, using tritonclient's own encoding.

``encode_infer`` (and the recommender's ``encode_recommend`` / ``encode_search``) and
``decode_outputs`` do no I/O, so the Locust load generator sends the same bytes over its own
HTTP client. ``InferenceClient`` is a small blocking keep-alive client for probes, tests and
benchmarks; a reply carries the outputs the request asked for.

>>> request = encode_recommend(user_id=42, k=10)
>>> request.path
'/v2/models/recommend/infer'
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import tritonclient.http as triton_http

NODE_HEADER = "x-drillkit-node"
REGION_HEADER = "x-drillkit-region"
_HEADER_LENGTH = "Inference-Header-Content-Length"
_OUTPUTS = ("item_ids", "scores")


@dataclass(frozen=True)
class EncodedRequest:
    path: str
    body: bytes
    headers: dict[str, str]
    outputs: tuple[str, ...] = _OUTPUTS  # the outputs asked for: what a reply decodes


@dataclass(frozen=True)
class Answer:
    item_ids: tuple[int, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class Reply:
    """One request's outcome, as a client saw it (``outputs`` None unless it succeeded)."""

    outputs: Mapping[str, np.ndarray] | None
    status: int  # 0 when no HTTP response arrived
    latency_s: float
    node: str | None
    region: str | None
    error: str | None

    @property
    def answer(self) -> Answer | None:
        """The recommender's answer (item ids and scores), when the outputs hold one."""
        if self.outputs is None or "item_ids" not in self.outputs or "scores" not in self.outputs:
            return None
        return _answer(self.outputs["item_ids"], self.outputs["scores"])


def encode_recommend(user_id: int, k: int) -> EncodedRequest:
    """Body and headers of a ``recommend`` inference request."""
    return _encode("recommend", [_tensor("user_id", np.array([[user_id]], np.int64)), _tensor("k", np.array([[k]], np.int32))])


def encode_search(query: str, user_id: int, k: int) -> EncodedRequest:
    """Body and headers of a ``search`` inference request."""
    inputs = [
        _tensor("query", np.array([[query.encode()]], dtype=np.object_)),
        _tensor("user_id", np.array([[user_id]], np.int64)),
        _tensor("k", np.array([[k]], np.int32)),
    ]
    return _encode("search", inputs)


def _tensor(name: str, value: np.ndarray) -> tuple[str, str, np.ndarray]:
    dtype = "BYTES" if value.dtype == np.object_ else ("INT64" if value.dtype == np.int64 else "INT32")
    return name, dtype, value


def _encode(model: str, inputs: list[tuple[str, str, np.ndarray]]) -> EncodedRequest:
    return encode_infer(model, inputs, outputs=_OUTPUTS)


def encode_infer(
    model: str, inputs: Sequence[tuple[str, str, np.ndarray]], *, outputs: Sequence[str], version: str | None = None
) -> EncodedRequest:
    """Body and headers of an inference request: ``inputs`` as (name, KServe datatype, array),
    sent and answered as binary tensors; ``version`` pins a Triton model version."""
    tensors = []
    for name, datatype, value in inputs:
        tensor = triton_http.InferInput(name, list(value.shape), datatype)
        tensor.set_data_from_numpy(value, binary_data=True)
        tensors.append(tensor)
    asked = [triton_http.InferRequestedOutput(name, binary_data=True) for name in outputs]
    body, json_size = triton_http.InferenceServerClient.generate_request_body(tensors, outputs=asked)
    headers = {"Content-Type": "application/octet-stream"}
    if json_size is not None:
        headers[_HEADER_LENGTH] = str(json_size)
    path = f"/v2/models/{model}/versions/{version}/infer" if version else f"/v2/models/{model}/infer"
    return EncodedRequest(path, body, headers, tuple(outputs))


def decode_outputs(body: bytes, headers: Mapping[str, str] | None, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The named outputs of a successful inference response (binary or JSON outputs); with no
    names, every output the response holds (a request that named none got them all).

    >>> decode_outputs(b'{"outputs": []}', {}, ["scores"])
    Traceback (most recent call last):
    ValueError: the response lacks scores
    """
    length = _header(headers, _HEADER_LENGTH)
    result = triton_http.InferResult(_Body(body, int(length) if length else None), False)
    names = names or [str(o.get("name")) for o in result.get_response().get("outputs") or []]
    outputs = {name: result.as_numpy(name) for name in names}
    missing = [name for name, value in outputs.items() if value is None]
    if missing:
        raise ValueError(f"the response lacks {', '.join(missing)}")
    return outputs  # type: ignore[return-value]


def decode_answer(body: bytes, headers: Mapping[str, str] | None) -> Answer:
    """Parse a successful recommender response (binary or JSON outputs)."""
    outputs = decode_outputs(body, headers, _OUTPUTS)
    return _answer(outputs["item_ids"], outputs["scores"])


def _answer(ids: np.ndarray, scores: np.ndarray) -> Answer:
    return Answer(tuple(int(i) for i in ids.reshape(-1)), tuple(float(s) for s in scores.reshape(-1)))


def check_answer(body: bytes, headers: Mapping[str, str] | None, names: Sequence[str] = _OUTPUTS) -> None:
    """Raise unless ``body`` parses as an answer holding ``names``.

    >>> check_answer(b'{"outputs": []}', {})
    Traceback (most recent call last):
    ValueError: the response lacks item_ids, scores
    """
    decode_outputs(body, headers, names)


class _Body:
    """The response interface tritonclient's ``InferResult`` reads, over bytes in memory.

    ``InferResult.from_response_body`` defines such a class on every call (~10 us, and garbage
    with a reference cycle); the load generator parses a sample of thousands of answers a second.
    """

    __slots__ = ("_data", "_header_length", "_offset")

    def __init__(self, data: bytes, header_length: int | None) -> None:
        self._data, self._offset, self._header_length = data, 0, header_length

    def get(self, key: str) -> int | None:
        return self._header_length if key == _HEADER_LENGTH else None  # no Content-Encoding: never compressed

    def read(self, length: int = -1) -> bytes:
        start = self._offset
        self._offset = len(self._data) if length == -1 else start + length
        return self._data[start : self._offset]


def error_text(body: bytes) -> str:
    """Triton's ``{"error": ...}`` message, or the raw body."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) or headers.get(name.lower())
    return str(value) if value is not None else None


class InferenceClient:
    """Blocking keep-alive client of a gateway or a node (reconnects after a closed connection)."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        # A base path is kept: on Kubernetes a node is reached through the API server's proxy.
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def send(self, request: EncodedRequest) -> Reply:
        """Send one request; transport failures become a Reply with ``error`` set."""
        started = time.perf_counter()
        try:
            status, headers, body = self._exchange(request)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Reply(None, 0, time.perf_counter() - started, None, None, f"{type(exc).__name__}: {exc}")
        latency = time.perf_counter() - started
        node, region = headers.get(NODE_HEADER), headers.get(REGION_HEADER)
        if status != 200:
            return Reply(None, status, latency, node, region, f"HTTP {status}: {error_text(body)}")
        try:
            return Reply(decode_outputs(body, headers, request.outputs), status, latency, node, region, None)
        except Exception as exc:  # tritonclient raises several types on a malformed body
            return Reply(None, status, latency, node, region, f"bad response: {exc}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, request: EncodedRequest) -> tuple[int, dict[str, str], bytes]:
        # An idle keep-alive connection the server closed fails on first use: that one case
        # is retried once on a fresh connection. A fresh connection's failure is the answer.
        reused = self._conn is not None
        try:
            return self._round_trip(self._connection(), request)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise
        return self._round_trip(self._connection(), request)

    def _round_trip(self, conn: http.client.HTTPConnection, request: EncodedRequest) -> tuple[int, dict[str, str], bytes]:
        conn.request("POST", self.prefix + request.path, body=request.body, headers=request.headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return self._conn


class RecommenderClient(InferenceClient):
    """The client with the built-in recommender's two requests."""

    def recommend(self, user_id: int, k: int) -> Reply:
        return self.send(encode_recommend(user_id, k))

    def search(self, query: str, user_id: int, k: int) -> Reply:
        return self.send(encode_search(query, user_id, k))
