"""The fault proxy against a real upstream on 127.0.0.1: pass-through and every fault."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from drillkit.errors import ComponentError
from drillkit.netfault import Fault, FaultProxy, NetfaultClient, ProxyConfig, RouteConfig, read_ready_file, write_config


class Echo(BaseHTTPRequestHandler):
    """POST echoes the body; GET /big answers 1 MB."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(body)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(bytes(range(256)) * 4096 if self.path == "/big" else b"ok")

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def proxy(upstream: int) -> Iterator[FaultProxy]:
    config = ProxyConfig(routes=(RouteConfig(name="node", upstream_port=upstream, seed=7),))
    running = FaultProxy(config).start_thread()
    yield running
    running.stop()


def control(proxy: FaultProxy) -> NetfaultClient:
    assert proxy.ready is not None
    return NetfaultClient(f"http://127.0.0.1:{proxy.ready.control_port}")


def port(proxy: FaultProxy) -> int:
    assert proxy.ready is not None
    return proxy.ready.routes["node"]


def post(port: int, body: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("POST", "/", body=body)
        return conn.getresponse().read(), time.perf_counter() - started
    finally:
        conn.close()


def test_pass_through_is_byte_exact_both_ways(proxy: FaultProxy) -> None:
    payload = bytes(range(256)) * 2000
    assert post(port(proxy), payload)[0] == payload
    conn = http.client.HTTPConnection("127.0.0.1", port(proxy), timeout=5)
    conn.request("GET", "/big")
    assert conn.getresponse().read() == bytes(range(256)) * 4096
    stats = control(proxy).routes()[0].stats
    assert stats.connections_total == 2 and stats.bytes_down > 1_500_000 and stats.bytes_up > 500_000


def test_latency_with_jitter_delays_each_exchange(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(latency_ms=150, jitter_ms=20))
    times = [post(port(proxy), b"x")[1] for _ in range(3)]
    assert all(0.125 <= t < 0.4 for t in times), times
    control(proxy).clear("node")
    assert post(port(proxy), b"x")[1] < 0.1


def test_reset_ratio_one_resets_every_connection_and_zero_none(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(reset_ratio=1.0))
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        post(port(proxy), b"x")
    control(proxy).set_fault("node", Fault(reset_ratio=0.0))
    assert post(port(proxy), b"x")[0] == b"x"
    assert control(proxy).routes()[0].stats.resets >= 1


def test_reset_ratio_half_resets_about_half(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(reset_ratio=0.5))
    failures = 0
    for _ in range(200):
        try:
            post(port(proxy), b"x")
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            failures += 1
    # per connection two draws (accept, request): P(ok) = 0.25; binomial sd ~ 6 of 200
    assert 120 <= failures <= 180


def test_blackhole_stalls_and_clearing_lets_the_stalled_request_finish(proxy: FaultProxy) -> None:
    client = control(proxy)
    client.set_fault("node", Fault(blackhole=True))
    with pytest.raises(TimeoutError):
        post(port(proxy), b"x", timeout=0.3)
    result: list[bytes] = []
    waiter = threading.Thread(target=lambda: result.append(post(port(proxy), b"late", timeout=5)[0]))
    waiter.start()
    time.sleep(0.3)
    assert client.routes()[0].stats.stalled_connections >= 1
    assert result == []
    client.clear("node")
    waiter.join(timeout=5)
    assert result == [b"late"]


def test_bandwidth_cap_slows_a_large_transfer(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(bandwidth_kbps=200))
    _, took = post(port(proxy), b"z" * 50_000, timeout=10)
    assert 3.5 <= took <= 5.5  # 50 kB up at 25 kB/s is 2 s, and the 50 kB echo back another 2 s


def test_control_api_errors_are_clear(proxy: FaultProxy) -> None:
    client = control(proxy)
    with pytest.raises(ComponentError, match="no route 'nope'; routes: node"):
        client.set_fault("nope", Fault())
    with pytest.raises(ComponentError, match="reset_ratio"):
        client._call("PUT", "/routes/node/fault", '{"reset_ratio": 2}')
    with pytest.raises(ComponentError, match="invalid fault"):
        client._call("PUT", "/routes/node/fault", "{not json")
    with pytest.raises(ComponentError, match="must not exceed"):
        client._call("PUT", "/routes/node/fault", '{"latency_ms": 1, "jitter_ms": 5}')
    with pytest.raises(ComponentError, match="fields"):
        client._call("PUT", "/routes/node/fault", '{"latncy_ms": 5}')


def test_a_dead_upstream_fails_the_connection_at_once(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    proxy = FaultProxy(ProxyConfig(routes=(RouteConfig(name="node", upstream_port=dead),))).start_thread()
    try:
        started = time.perf_counter()
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            post(port(proxy), b"x")
        assert time.perf_counter() - started < 1.0
    finally:
        proxy.stop()


def test_the_process_writes_its_ready_file_and_exits_on_sigterm(tmp_path: Path, upstream: int) -> None:
    write_config(tmp_path / "routes.json", [RouteConfig(name="a", upstream_port=upstream), RouteConfig(name="b", upstream_port=upstream)])
    ready_file = tmp_path / "ready.json"
    child = subprocess.Popen([sys.executable, "-m", "drillkit.netfault", "--config", str(tmp_path / "routes.json"),
                              "--ready-file", str(ready_file)])  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not ready_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = read_ready_file(ready_file)
        assert ready.pid == child.pid and set(ready.routes) == {"a", "b"}
        client = NetfaultClient(f"http://127.0.0.1:{ready.control_port}")
        assert client.health()
        client.set_fault("b", Fault(latency_ms=5))
        assert {r.name: r.fault.latency_ms for r in client.routes()} == {"a": 0, "b": 5}
        assert post(ready.routes["a"], b"hello")[0] == b"hello"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=5) == 0
    finally:
        child.kill()
