"""``drillkit traffic import``: HAR 1.2 and GoReplay captures become KServe v2 traces.

The captures are written here the way the tools write them: HAR entries with ISO 8601 times
and request headers, GoReplay payloads ("1 <id> <ns> <latency>" then the raw HTTP request)
between its separator. Bodies are JSON requests or the binary tensor extension.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from drillkit.errors import ExitCode, SpecError
from drillkit.netutil import free_port, http_status
from drillkit.trace import read_trace
from drillkit.workload.capture import capture_format, import_capture
from drillkit.workload.mitm import find_mitmdump
from tests.captures import (
    COOKIE,
    SECRET,
    Sent,
    binary_body,
    gor_request,
    gor_response,
    har_entry,
    json_body,
    write_gor,
    write_har,
)
from tests.fakes.http import serve
from tests.fakes.ranker import ranker

T0 = 1_790_000_000.0


def har(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    return write_har(tmp_path / "capture.har", entries)


def test_a_har_capture_keeps_inference_requests_with_their_timing_and_no_headers(tmp_path: Path) -> None:
    body, headers = binary_body(3)
    path = har(tmp_path, [
        har_entry(Sent(T0 + 0.25, "/v2/models/ranker/infer", json_body(1))),
        har_entry(Sent(T0, "/v2/models/ranker/versions/2/infer?x=1", json_body(2))),
        har_entry(Sent(T0 + 1.5, "/v2/models/ranker/infer", body, headers=headers), base64_body=True),
        har_entry(Sent(T0 + 0.5, "/v2/health/ready", b"", method="GET")),
        har_entry(Sent(T0 + 0.7, "/v2/models/ranker/infer", b"{not json")),
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
    payloads = [gor_request(Sent(T0, "/v2/models/ranker/infer", json_body(1))), gor_response(T0),
                gor_request(Sent(T0 + 2.0, "/v2/models/ranker/infer", json_body(2)), chunked=True),
                gor_request(Sent(T0 + 3.0, "/v2/models/other/infer", json_body(3)))]  # fmt: skip
    path = write_gor(tmp_path / "requests.gor", payloads)
    report = import_capture(path, tmp_path / "trace.parquet", models=["ranker"])
    assert report.format == "gor" and report.kept == {"ranker": 2} and report.skipped == {"another model": 1}
    trace = read_trace(tmp_path / "trace.parquet")
    assert trace.frame["offset_s"].tolist() == [0.0, 2.0] and "abc" not in trace.frame.to_string()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
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
    path = har(tmp_path, [har_entry(Sent(T0, "/v2/health/ready", b"", method="GET"))])
    done = subprocess.run([sys.executable, "-m", "drillkit", "traffic", "import", str(path), "--out", str(tmp_path / "t.jsonl")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == ExitCode.INVALID_INPUT and "Traceback" not in done.stderr
    assert "holds no KServe v2 inference request to keep (1 not an inference request)" in done.stderr
    assert not (tmp_path / "t.jsonl").exists()


@contextmanager
def mitmproxy_in_front_of(url: str, flows: Path) -> Iterator[str]:
    """A real mitmdump in reverse-proxy mode before ``url``, writing what passes to ``flows``."""
    mitmdump = find_mitmdump()
    assert mitmdump is not None, "make setup installs mitmproxy beside drillkit's venv"
    port = free_port()
    proxy = subprocess.Popen([mitmdump, "-q", "--mode", f"reverse:{url}", "--listen-host", "127.0.0.1",
                              "--listen-port", str(port), "-w", str(flows)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while http_status(f"http://127.0.0.1:{port}/v2/health/ready") != 200:
            assert proxy.poll() is None and time.monotonic() < deadline, proxy.stderr.read() if proxy.stderr else ""
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


def test_a_mitmproxy_flow_file_is_read_by_mitmproxy_itself_and_keeps_no_credentials(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    with serve(ranker()) as node, mitmproxy_in_front_of(node, flows) as proxy:
        sent_at = []
        for seed in range(5):
            body, headers = binary_body(seed)
            request = urllib.request.Request(f"{proxy}/v2/models/ranker/infer?trace=1", data=body, method="POST",
                                             headers={**headers, "Authorization": SECRET, "Cookie": COOKIE})  # fmt: skip
            sent_at.append(time.time())
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
            time.sleep(0.1)
    assert capture_format(flows) == "mitmproxy"
    report = import_capture(flows, tmp_path / "trace.jsonl", models=["ranker"])
    assert report.format == "mitmproxy" and report.kept == {"ranker": 5}
    assert report.skipped == {"not an inference request": 1}  # the readiness poll
    text = (tmp_path / "trace.jsonl").read_text()
    assert "s3cr3t" not in text and "abc123" not in text and "uthorization" not in text
    frame = read_trace(tmp_path / "trace.jsonl").frame
    gaps = np.diff(frame["offset_s"].to_numpy())
    assert np.allclose(gaps, np.diff(sent_at), atol=0.05)  # each request's timing kept
    decoded = json.loads(frame["inputs"].iloc[4])[0]
    assert decoded["shape"] == [1, 16] and decoded["data"] == pytest.approx(
        np.random.default_rng(4).standard_normal((1, 16)).astype(np.float32).reshape(-1).tolist())  # fmt: skip


def test_a_damaged_flow_file_or_a_missing_mitmdump_is_refused_with_the_fix(tmp_path: Path) -> None:
    damaged = tmp_path / "flows"
    damaged.write_bytes(b"2017:9:websocket;0:~8:response;299:6:reason;2:OK")
    with pytest.raises(SpecError) as caught:
        import_capture(damaged, tmp_path / "t.jsonl")
    assert str(caught.value).startswith(str(damaged)) and "mitmproxy could not read it" in str(caught.value)
    assert "Invalid data format" in str(caught.value)
    done = subprocess.run([sys.executable, "-m", "drillkit", "traffic", "import", str(damaged), "--out", str(tmp_path / "t.jsonl"),
                           "--mitmdump", str(tmp_path / "no-mitmdump")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == ExitCode.INVALID_INPUT and "Traceback" not in done.stderr
    assert "does not exist" in done.stderr and "pipx install mitmproxy" in done.stderr
    assert not (tmp_path / "t.jsonl").exists()
