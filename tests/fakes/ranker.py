"""A fake KServe v2 node serving a user's model, the ranker of tests/fixtures/ranker-repository.

A real HTTP server on 127.0.0.1:0 (``tests.fakes.http.serve``) that answers model metadata
(``GET /v2/models/ranker``) and binary inference requests the way the fixture's Python model
does: ``score`` is the features times fixed weights, ``top_features`` the indices of the four
largest contributions. ``noise`` adds a random amount to every score (a model that answers
differently each time); ``shift`` adds a fixed amount (another model version); ``delay``
waits that long before each answer (a slower version).
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

import numpy as np

WEIGHTS = np.linspace(-1.0, 1.0, 16, dtype=np.float32)
METADATA = {
    "name": "ranker",
    "versions": ["1"],
    "platform": "python",
    "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 16]}],
    "outputs": [{"name": "score", "datatype": "FP32", "shape": [-1, 1]},
                {"name": "top_features", "datatype": "INT64", "shape": [-1, 4]}],
}  # fmt: skip


def rank(features: np.ndarray, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    contributions = features.astype(np.float32) * WEIGHTS
    score = contributions.sum(axis=1, keepdims=True).astype(np.float32) + np.float32(shift)
    top = np.argsort(-contributions, axis=1, kind="stable")[:, :4].astype(np.int64)
    return score, top


class FakeRanker(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    noise = 0.0
    shift = 0.0
    delay = 0.0
    infers = 0

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") == "/v2/models/ranker":
            return self._send(200, json.dumps(METADATA).encode(), {"Content-Type": "application/json"})
        if self.path.endswith("/ready") or self.path.startswith("/v2/health"):
            return self._send(200, b"", {})
        self._send(404, json.dumps({"error": f"unknown model at {self.path}"}).encode(), {})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not self.path.startswith("/v2/models/ranker/"):
            return self._send(400, json.dumps({"error": "unknown model"}).encode(), {})
        type(self).infers += 1
        if self.delay:
            time.sleep(self.delay)
        length = int(self.headers.get("Inference-Header-Content-Length") or len(body))
        request = json.loads(body[:length])
        (tensor,) = request["inputs"]
        features = np.frombuffer(body[length:], np.float32).reshape(tensor["shape"])
        score, top = rank(features, self.shift)
        if self.noise:
            score = score + np.random.default_rng().normal(0, self.noise, score.shape).astype(np.float32)
        outputs = [
            {"name": "score", "datatype": "FP32", "shape": list(score.shape), "parameters": {"binary_data_size": score.nbytes}},
            {"name": "top_features", "datatype": "INT64", "shape": list(top.shape), "parameters": {"binary_data_size": top.nbytes}},
        ]
        head = json.dumps({"model_name": "ranker", "outputs": outputs}).encode()
        self._send(200, head + score.tobytes() + top.tobytes(), {"Inference-Header-Content-Length": str(len(head))})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def ranker(*, noise: float = 0.0, shift: float = 0.0, delay: float = 0.0) -> type[FakeRanker]:
    """A FakeRanker class of its own (its counters are not shared with another test's)."""
    return type("Ranker", (FakeRanker,), {"noise": noise, "shift": shift, "delay": delay, "infers": 0})
