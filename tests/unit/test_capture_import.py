"""``drillkit traffic import``: HAR 1.2 and GoReplay captures become KServe v2 traces.

The captures are written here the way the tools write them: HAR entries with ISO 8601 times
and request headers, GoReplay payloads ("1 <id> <ns> <latency>" then the raw HTTP request)
between its separator. Bodies are JSON requests or the binary tensor extension.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from drillkit.errors import ExitCode, SpecError
from drillkit.model.client import encode_infer
from drillkit.trace import read_trace
from drillkit.workload.capture import GOR_SEPARATOR, import_capture

T0 = 1_790_000_000.0


def json_body(seed: int) -> bytes:
    data = [float(x) for x in np.random.default_rng(seed).standard_normal(16).astype(np.float32)]
    return json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 16], "data": data}]}).encode()


def binary_body(seed: int) -> tuple[bytes, dict[str, str]]:
    features = np.random.default_rng(seed).standard_normal((1, 16)).astype(np.float32)
    request = encode_infer("ranker", [("features", "FP32", features)], outputs=("score",))
    return request.body, request.headers


def har(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}))
    return path


def har_entry(at: float, url: str, body: bytes, *, method: str = "POST", headers: dict[str, str] | None = None,
              base64_body: bool = False) -> dict[str, object]:  # fmt: skip
    import base64

    post = {"mimeType": "application/json", "text": base64.b64encode(body).decode() if base64_body else body.decode()}
    if base64_body:
        post["encoding"] = "base64"
    names = [{"name": k, "value": v} for k, v in {"Authorization": "Bearer s3cr3t", **(headers or {})}.items()]
    return {"startedDateTime": datetime.fromtimestamp(at, UTC).isoformat(), "time": 5,
            "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": names, "postData": post},
            "response": {"status": 200}}  # fmt: skip


def test_a_har_capture_keeps_inference_requests_with_their_timing_and_no_headers(tmp_path: Path) -> None:
    body, headers = binary_body(3)
    path = har(tmp_path, [
        har_entry(T0 + 0.25, "http://shop.example/v2/models/ranker/infer", json_body(1)),
        har_entry(T0, "http://shop.example/v2/models/ranker/versions/2/infer?x=1", json_body(2)),
        har_entry(T0 + 1.5, "http://shop.example/v2/models/ranker/infer", body, headers=headers, base64_body=True),
        har_entry(T0 + 0.5, "http://shop.example/v2/health/ready", b"", method="GET"),
        har_entry(T0 + 0.7, "http://shop.example/v2/models/ranker/infer", b"{not json"),
    ])  # fmt: skip
    report = import_capture(path, tmp_path / "trace.jsonl")
    assert report.format == "har" and report.kept == {"ranker": 3} and report.duration_s == 1.5
    assert report.skipped == {"not an inference request": 1, "a body that is not a KServe v2 request": 1}
    text = (tmp_path / "trace.jsonl").read_text()
    assert "s3cr3t" not in text and "Authorization" not in text  # headers never reach the trace
    trace = read_trace(tmp_path / "trace.jsonl")
    assert trace.format == "kserve" and trace.frame["offset_s"].tolist() == [0.0, 0.25, 1.5]
    assert trace.frame["version"].tolist() == ["2", "", ""]
    decoded = json.loads(trace.frame["inputs"].iloc[2])[0]["data"]
    assert decoded == pytest.approx(np.random.default_rng(3).standard_normal((1, 16)).astype(np.float32).reshape(-1).tolist())


def test_a_goreplay_capture_keeps_requests_and_drops_responses(tmp_path: Path) -> None:
    def request(at: float, path: str, body: bytes, *, chunked: bool = False) -> bytes:
        head = f"POST {path} HTTP/1.1\r\nHost: shop\r\nCookie: session=abc\r\n"
        if chunked:
            payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            head += "Transfer-Encoding: chunked\r\n"
        else:
            payload = body
            head += f"Content-Length: {len(body)}\r\n"
        return f"1 a1b2 {int(at * 1e9)} 0\n".encode() + head.encode() + b"\r\n" + payload

    response = b"2 a1b2 %d 1000\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" % int(T0 * 1e9)
    payloads = [request(T0, "/v2/models/ranker/infer", json_body(1)), response,
                request(T0 + 2.0, "/v2/models/ranker/infer", json_body(2), chunked=True),
                request(T0 + 3.0, "/v2/models/other/infer", json_body(3))]  # fmt: skip
    path = tmp_path / "requests.gor"
    path.write_bytes(GOR_SEPARATOR.join(payloads) + GOR_SEPARATOR)
    report = import_capture(path, tmp_path / "trace.parquet", models=["ranker"])
    assert report.format == "gor" and report.kept == {"ranker": 2} and report.skipped == {"another model": 1}
    trace = read_trace(tmp_path / "trace.parquet")
    assert trace.frame["offset_s"].tolist() == [0.0, 2.0] and "abc" not in trace.frame.to_string()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"12:hello world,", "a mitmproxy flow file"),
        (b"\x00\x01binary", "neither HAR 1.2"),
        (b'{"log": {}}', "log.entries: missing: not a HAR file"),
        (b'{"log": {"entries": [{"startedDateTime": "yesterday", "request": {}}]}}', "is not an ISO 8601 time"),
    ],
)
def test_a_capture_that_is_not_one_is_refused_naming_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "capture.har"
    path.write_bytes(content)
    with pytest.raises(SpecError) as caught:
        import_capture(path, tmp_path / "t.jsonl")
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)


def test_a_capture_with_nothing_to_keep_exits_2_saying_what_it_skipped(tmp_path: Path) -> None:
    path = har(tmp_path, [har_entry(T0, "http://x/v2/health/ready", b"", method="GET")])
    done = subprocess.run([sys.executable, "-m", "drillkit", "traffic", "import", str(path), "--out", str(tmp_path / "t.jsonl")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == ExitCode.INVALID_INPUT and "Traceback" not in done.stderr
    assert "holds no KServe v2 inference request to keep (1 not an inference request)" in done.stderr
    assert not (tmp_path / "t.jsonl").exists()
