"""The locustfile under the stock Locust CLI, against a fake Triton (a real HTTP server).

Locust runs in a child process: it gevent-patches the standard library on import, which
must not happen to the test process.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from drillkit.request_log import read_request_log
from drillkit.trace import write_trace
from tests.fakes.http import serve
from tests.fakes.triton import FakeTriton, fake_triton

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"


def small_trace(tmp_path: Path, rows: int = 60, span_s: float = 1.5) -> Path:
    frame = pd.DataFrame(
        {
            "offset_s": [i * span_s / rows for i in range(rows)],
            "kind": ["search" if i % 6 == 0 else "recommend" for i in range(rows)],
            "user_id": [13 if i % 10 == 0 else 100 + i for i in range(rows)],  # the fake answers user 13 with 503
            "query": ["red shoes" if i % 6 == 0 else "" for i in range(rows)],
            "k": [5] * rows,
            "session_id": [""] * rows,
        }
    )
    return write_trace(frame, tmp_path / "trace.csv")


def locust(host: str, trace: Path, log: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "1", "-r", "1",
               "--run-time", "30s", "--host", host, "--trace", str(trace), "--request-log", str(log),
               "--only-summary", "--request-timeout", "2", *extra]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_every_scheduled_request_is_logged_with_outcome_and_serving_node(tmp_path: Path) -> None:
    trace = small_trace(tmp_path)
    with fake_triton() as url:
        done = locust(url, trace, tmp_path / "log")
    assert done.returncode in (0, 1), done.stderr  # 1: Locust's exit code when any request failed
    log = read_request_log(tmp_path / "log")
    assert sorted(log["row"]) == list(range(60))
    failed = log[log["outcome"] == "error"]
    assert sorted(failed["row"]) == list(range(0, 60, 10))
    assert set(failed["error_class"]) == {"http_5xx"} and set(failed["status"]) == {503}
    ok = log[log["outcome"] == "ok"]
    assert set(ok["region"]) == {"primary"} and set(ok["node"]) == {"primary-1"}
    assert set(log["kind"]) == {"search", "recommend"}
    lag = log["sent_at"] - log["scheduled_at"]
    assert lag.min() >= 0 and lag.median() < 0.05
    span = log["scheduled_at"].max() - log["scheduled_at"].min()
    assert abs(span - 1.5 * 59 / 60) < 0.01  # the schedule kept the trace's own spacing


def test_a_dead_host_logs_connection_errors_instead_of_stalling(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    done = locust(f"http://127.0.0.1:{dead}", small_trace(tmp_path, rows=10, span_s=0.5), tmp_path / "log")
    assert done.returncode == 1
    log = read_request_log(tmp_path / "log")
    assert len(log) == 10 and set(log["error_class"]) == {"connection_refused"}


def test_caps_bound_the_replay(tmp_path: Path) -> None:
    with fake_triton() as url:
        locust(url, small_trace(tmp_path), tmp_path / "log", "--max-requests", "7")
    assert sorted(read_request_log(tmp_path / "log")["row"]) == list(range(7))


def test_a_missing_trace_stops_locust_with_a_clear_message(tmp_path: Path) -> None:
    with fake_triton() as url:
        done = locust(url, tmp_path / "none.csv", tmp_path / "log")
    assert done.returncode != 0
    assert "trace file not found" in done.stderr


class HalfAnswer(FakeTriton):
    """Answers 200 with item_ids only: well-formed binary outputs, but no scores."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        outputs = [{"name": "item_ids", "datatype": "INT64", "shape": [1, 1], "parameters": {"binary_data_size": 8}}]
        head = json.dumps({"model_name": "x", "outputs": outputs}).encode()
        self._send(200, head + (7).to_bytes(8, "little"), {"Inference-Header-Content-Length": str(len(head))})


@contextmanager
def half_answers() -> Iterator[str]:
    with serve(HalfAnswer) as url:
        yield url


def test_a_sample_of_answers_is_parsed_in_full_and_a_wrong_one_is_a_bad_response(tmp_path: Path) -> None:
    trace = small_trace(tmp_path, rows=30, span_s=0.6)
    with half_answers() as url:
        locust(url, trace, tmp_path / "sampled")
        locust(url, trace, tmp_path / "all", "--parse-every", "1")
    sampled, every = read_request_log(tmp_path / "sampled"), read_request_log(tmp_path / "all")
    assert sorted(sampled.loc[sampled["outcome"] == "error", "row"]) == [0, 10, 20]  # every 10th row in full
    assert set(sampled["status"]) == {200} and set(sampled.loc[sampled["outcome"] == "error", "error_class"]) == {"bad_response"}
    assert len(every) == 30 and (every["error_class"] == "bad_response").all()


def test_sigterm_stops_the_replay_at_once_and_logs_every_request_sent(tmp_path: Path) -> None:
    # A 60 s trace stopped after ~2 s. Without the stop hook Locust waits out --stop-timeout
    # (20 s here) for the replay task, and the requests after the flusher closed are lost.
    trace = small_trace(tmp_path, rows=600, span_s=60)
    log = tmp_path / "log"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "1", "-r", "1",
               "--run-time", "90s", "--stop-timeout", "20", "--only-summary", "--request-timeout", "2",
               "--trace", str(trace), "--request-log", str(log)]  # fmt: skip
    with fake_triton() as url:
        proc = subprocess.Popen([*command, "--host", url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not list(log.glob("part-*.parquet")) and time.monotonic() < deadline:
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            proc.wait(timeout=30)
            took = time.monotonic() - stopped_at
        finally:
            proc.kill()
            proc.wait()
    assert took < 10, f"Locust took {took:.1f} s to stop: it waited for --stop-timeout"
    rows = sorted(read_request_log(log)["row"])
    assert 0 < len(rows) < 600
    assert rows == list(range(len(rows))), "a request sent before the stop is missing from the log"
