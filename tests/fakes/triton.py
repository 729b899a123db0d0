"""A fake Triton at the KServe v2 protocol seam: a real HTTP server on 127.0.0.1:0.

It decodes each binary inference request the way Triton does and answers ``k`` item ids
derived from the inputs, with the gateway's node/region headers. ``user_id`` 13 gets a
503, ``k`` > 100 a 400, so clients' error handling can be tested.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import numpy as np

from tests.fakes.http import serve


class FakeTriton(BaseHTTPRequestHandler):
    """Decodes each request with tritonclient and answers k ids derived from the inputs."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, object]] = []

    def do_GET(self) -> None:  # noqa: N802  (health)
        self._send(200, b"", {})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        header_length = int(self.headers["Inference-Header-Content-Length"])
        request = json.loads(body[:header_length])
        values = self._inputs(request, body[header_length:])
        FakeTriton.seen.append({"path": self.path, **values})
        if values["k"] > 100:
            return self._send(400, json.dumps({"error": "k too large"}).encode(), {})
        if values["user_id"] == 13:
            return self._send(503, json.dumps({"error": "unavailable"}).encode(), {})
        ids = np.arange(values["k"], dtype=np.int64) + values["user_id"]
        scores = np.linspace(1, 0, values["k"], dtype=np.float32)
        outputs = [
            {"name": "item_ids", "datatype": "INT64", "shape": [1, len(ids)], "parameters": {"binary_data_size": ids.nbytes}},
            {"name": "scores", "datatype": "FP32", "shape": [1, len(ids)], "parameters": {"binary_data_size": scores.nbytes}},
        ]
        head = json.dumps({"model_name": "x", "outputs": outputs}).encode()
        self._send(200, head + ids.tobytes() + scores.tobytes(),
                   {"Inference-Header-Content-Length": str(len(head)), "X-Drillkit-Node": "primary-1", "X-Drillkit-Region": "primary"})  # fmt: skip

    @staticmethod
    def _inputs(request: dict, blob: bytes) -> dict:  # type: ignore[type-arg]
        values, offset = {}, 0
        for tensor in request["inputs"]:
            size = tensor["parameters"]["binary_data_size"]
            raw = blob[offset : offset + size]
            offset += size
            if tensor["datatype"] == "BYTES":
                values[tensor["name"]] = raw[4:].decode()  # 4-byte length prefix, one element
            else:
                values[tensor["name"]] = int(np.frombuffer(raw, {"INT64": np.int64, "INT32": np.int32}[tensor["datatype"]])[0])
        return values

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def fake_triton() -> Iterator[str]:
    """Serve FakeTriton on a free port; yield its base URL."""
    with serve(FakeTriton) as url:
        yield url
