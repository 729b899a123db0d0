"""The fault proxy against real upstreams on 127.0.0.1: pass-through, every fault, the control API.

The proxy runs in-process on a thread with its own event loop (``FaultProxy.start_thread``),
and once as the real ``python -m drillkit.netfault`` process. Upstreams are a small HTTP
server and a raw TCP "echo everything after EOF" server. No mocks.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError

from drillkit.errors import ComponentError
from drillkit.netfault import (
    TOKEN_FILE,
    Fault,
    FaultProxy,
    NetfaultClient,
    ProxyConfig,
    RouteConfig,
    RouteStats,
    read_ready_file,
    write_config,
)  # fmt: skip
from drillkit.netfault.proxy import Route

PATTERN = bytes(range(256))


class Upstream(ThreadingHTTPServer):
    """Counts the requests it answered, so a test can tell that nothing got through."""

    daemon_threads = True
    answered = 0

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the resets these tests inject reach the upstream too; not worth a traceback


class Echo(BaseHTTPRequestHandler):
    """POST / echoes the body; POST /sink answers "ok"; GET /bytes/N answers N bytes."""

    disable_nagle_algorithm = True  # else keep-alive exchanges take ~45 ms
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(b"ok" if self.path == "/sink" else body)

    def do_GET(self) -> None:  # noqa: N802
        size = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/bytes/") else 2
        self._answer((PATTERN * (size // 256 + 1))[:size])

    def _answer(self, body: bytes) -> None:
        self.server.answered += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _echo_after_eof(listener: socket.socket) -> None:
    """Raw TCP: read until the client half-closes, send it all back, close."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            conn.sendall(b"".join(chunks))


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def raw_upstream() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_echo_after_eof, args=(listener,), daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def proxy(upstream: Upstream, raw_upstream: int) -> Iterator[FaultProxy]:
    routes = (
        RouteConfig(name="node", upstream_port=upstream.server_address[1], seed=7),
        RouteConfig(name="raw", upstream_port=raw_upstream, seed=8),
    )
    with FaultProxy(ProxyConfig(routes=routes)).start_thread() as running:
        yield running


def control(proxy: FaultProxy) -> NetfaultClient:
    assert proxy.ready is not None
    return NetfaultClient(f"http://127.0.0.1:{proxy.ready.control_port}", token=proxy.token)


def port(proxy: FaultProxy, route: str = "node") -> int:
    assert proxy.ready is not None
    return proxy.ready.routes[route]


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> tuple[bytes, float]:
    """One request/response on ``conn``: (response body, seconds)."""
    started = time.perf_counter()
    conn.request(method, path, body=body)
    return conn.getresponse().read(), time.perf_counter() - started


def request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[bytes, float]:
    """One request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return exchange(conn, method, path, body)
    finally:
        conn.close()


def reset_on_arrival(port: int) -> bool:
    """True when a new connection gets an RST (at connect or first read), False on an EOF."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(1) == b"x"  # never: nothing is sent; b"" would be an EOF, not an RST
    except ConnectionResetError:
        return True


def wait_until(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def stats_of(proxy: FaultProxy, route: str = "node") -> RouteStats:
    return control(proxy).route(route).stats


# --- pass-through ---------------------------------------------------------------------------


def test_pass_through_is_byte_exact_both_ways(proxy: FaultProxy) -> None:
    payload = random.Random(1).randbytes(600_000)
    assert request(port(proxy), "POST", "/", payload)[0] == payload
    assert request(port(proxy), "GET", "/bytes/3000000")[0] == (PATTERN * 11719)[:3_000_000]


def test_half_close_is_forwarded_and_the_pipe_then_closes(proxy: FaultProxy) -> None:
    payload = random.Random(2).randbytes(300_000)
    with socket.create_connection(("127.0.0.1", port(proxy, "raw")), timeout=5) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)  # the upstream answers only after this EOF reaches it
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    assert received == payload
    assert wait_until(lambda: stats_of(proxy, "raw").connections_active == 0)


def test_stats_count_connections_and_bytes(proxy: FaultProxy) -> None:
    for size in (1000, 2000, 3000):
        request(port(proxy), "POST", "/", b"b" * size)
    with socket.create_connection(("127.0.0.1", port(proxy))):
        assert wait_until(lambda: stats_of(proxy).connections_active == 1)
    stats = stats_of(proxy)
    assert stats.connections_total == 4 and stats.resets == 0
    assert 6000 < stats.bytes_up < 7000 and 6000 < stats.bytes_down < 7000  # bodies plus HTTP heads
    assert wait_until(lambda: stats_of(proxy).connections_active == 0)
    assert stats_of(proxy, "raw").connections_total == 0


# --- latency -------------------------------------------------------------------------------


def test_latency_with_jitter_delays_each_exchange_on_an_open_connection(proxy: FaultProxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port(proxy), timeout=5)
    assert all(exchange(conn, "POST", "/", b"x")[1] < 0.05 for _ in range(2))  # established before the fault
    control(proxy).set_fault("node", Fault(latency_ms=150, jitter_ms=10))
    times = [exchange(conn, "POST", "/", b"x")[1] for _ in range(3)]
    assert all(0.14 <= t < 0.27 for t in times), times  # once per exchange, not per direction
    control(proxy).clear("node")
    assert exchange(conn, "POST", "/", b"x")[1] < 0.05
    conn.close()


def test_jitter_draws_are_uniform_around_latency_and_reproducible_by_seed() -> None:
    def draws(seed: int) -> list[float]:
        route = Route(RouteConfig(name="n", upstream_port=1, seed=seed))
        route.set_fault(Fault(latency_ms=150, jitter_ms=20))
        return [route.draw_delay() for _ in range(500)]

    first = draws(3)
    assert first == draws(3) and first != draws(4)
    assert 0.130 <= min(first) < 0.133 and 0.167 < max(first) <= 0.170
    assert sum(first) / len(first) == pytest.approx(0.150, abs=0.002)


# --- resets --------------------------------------------------------------------------------


def test_reset_ratio_one_resets_new_and_open_connections_and_zero_none(proxy: FaultProxy) -> None:
    open_conn = http.client.HTTPConnection("127.0.0.1", port(proxy), timeout=5)
    exchange(open_conn, "POST", "/", b"before")
    control(proxy).set_fault("node", Fault(reset_ratio=1.0))
    assert reset_on_arrival(port(proxy))
    with pytest.raises(ConnectionError):
        exchange(open_conn, "POST", "/", b"after")
    control(proxy).set_fault("node", Fault(reset_ratio=0.0))
    assert all(request(port(proxy), "POST", "/", b"x")[0] == b"x" for _ in range(20))
    assert stats_of(proxy).resets == 2


def test_reset_ratio_half_resets_a_binomial_share_of_connections(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(reset_ratio=0.5))
    failures = 0
    for _ in range(200):
        try:
            request(port(proxy), "POST", "/", b"x")
        except ConnectionError:
            failures += 1
    # two draws per connection (on accept, on the request), so P(reset) = 0.75: mean 150, sd 6.1
    assert 125 <= failures <= 175
    assert stats_of(proxy).resets == failures


# --- blackhole -----------------------------------------------------------------------------


def test_blackhole_stalls_new_and_open_connections_and_clearing_resumes_them(proxy: FaultProxy, upstream: Upstream) -> None:
    client = control(proxy)
    open_conn = http.client.HTTPConnection("127.0.0.1", port(proxy), timeout=5)
    exchange(open_conn, "POST", "/", b"warm")
    client.set_fault("node", Fault(blackhole=True))
    answered = upstream.answered
    with pytest.raises(TimeoutError):  # accepted, never answered, never closed
        request(port(proxy), "POST", "/", b"x", timeout=0.3)
    with ThreadPoolExecutor(2) as pool:
        stalled_open = pool.submit(exchange, open_conn, "POST", "/", b"late-open")
        stalled_new = pool.submit(request, port(proxy), "POST", "/", b"late-new")
        assert wait_until(lambda: stats_of(proxy).stalled_connections >= 2)
        time.sleep(0.2)
        assert not stalled_open.done() and not stalled_new.done() and upstream.answered == answered
        client.clear("node")
        assert stalled_open.result(timeout=5)[0] == b"late-open"
        assert stalled_new.result(timeout=5)[0] == b"late-new"
    open_conn.close()


# --- bandwidth -----------------------------------------------------------------------------


def test_bandwidth_cap_paces_a_download(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(bandwidth_kbps=200))  # 25 kB/s
    body, took = request(port(proxy), "GET", "/bytes/50000", timeout=10)
    assert len(body) == 50_000 and 1.7 <= took <= 2.8, took


def test_bandwidth_cap_applies_upstream_too_and_is_shared_by_the_routes_connections(proxy: FaultProxy) -> None:
    control(proxy).set_fault("node", Fault(bandwidth_kbps=200))
    took = request(port(proxy), "POST", "/sink", b"u" * 12_500, timeout=10)[1]
    assert 0.4 <= took <= 1.0, took
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: request(port(proxy), "GET", "/bytes/25000", timeout=10), range(2)))
    # 2 x 25 kB through one 25 kB/s bucket: about 2 s, not the 1 s of a bucket per connection
    assert all(len(body) == 25_000 for body, _ in results)
    assert 1.6 <= max(t for _, t in results) <= 2.8, results


# --- control API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("PUT", "/routes/node/fault", "{not json", 400, "invalid fault: body: Invalid JSON"),
        ("PUT", "/routes/node/fault", '{"reset_ratio": 2}', 400, "reset_ratio: Input should be less than or equal to 1"),
        ("PUT", "/routes/node/fault", '{"latency_ms": -1}', 400, "latency_ms: Input should be greater than or equal to 0"),
        ("PUT", "/routes/node/fault", '{"latency_ms": 1, "jitter_ms": 5}', 400, "jitter_ms (5) must not exceed latency_ms (1)"),
        ("PUT", "/routes/node/fault", '{"latncy_ms": 5}', 400, "latncy_ms: Extra inputs are not permitted"),
        ("PUT", "/routes/nope/fault", "{}", 404, "no route 'nope'; known routes: node, raw"),
        ("GET", "/routes/nope", None, 404, "no route 'nope'; known routes: node, raw"),
        ("GET", "/nothing", None, 404, "no such endpoint '/nothing'"),
        ("POST", "/routes/node/fault", "{}", 405, "POST /routes/node/fault is not allowed; use PUT, DELETE"),
    ],
)
def test_control_api_errors_say_what_to_fix(proxy: FaultProxy, method: str, path: str, body: str | None,
                                            status: int, message: str) -> None:  # fmt: skip
    got_status, payload = control(proxy).request(method, path, body)
    assert (got_status, set(payload)) == (status, {"error"})
    assert message in payload["error"]
    assert control(proxy).route("node").fault.is_clear  # a refused change changes nothing


def test_control_api_sets_reports_and_clears_faults(proxy: FaultProxy) -> None:
    client = control(proxy)
    assert client.health() and client.request("GET", "/healthz") == (200, {"ok": True})
    state = client.set_fault("node", Fault(latency_ms=5, reset_ratio=0.1))
    assert (state.name, state.fault.latency_ms, state.fault.reset_ratio) == ("node", 5, 0.1)
    client.set_fault("raw", Fault(blackhole=True))
    assert [(r.name, r.listen_port, r.fault.is_clear) for r in client.routes()] == [
        ("node", port(proxy), False), ("raw", port(proxy, "raw"), False)
    ]  # fmt: skip
    assert client.clear("raw").fault.is_clear
    assert all(r.fault.is_clear for r in client.clear_all())
    status, raw = client.request("GET", "/routes/node")
    assert status == 200 and set(raw) == {"name", "listen_port", "upstream", "fault", "refusing", "stats"}


def test_client_errors_name_the_route_and_the_servers_message(proxy: FaultProxy) -> None:
    with pytest.raises(ComponentError, match=r"route 'nope': PUT /routes/nope/fault -> 404: no route 'nope'; known"):
        control(proxy).set_fault("nope", Fault())
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nobody = NetfaultClient(f"http://127.0.0.1:{free.getsockname()[1]}", 0.5, token="t" * 43)
        assert nobody.health() is False
        with pytest.raises(ComponentError, match="got no answer"):
            nobody.routes()
    with pytest.raises(ComponentError, match="is not http://HOST:PORT"):
        NetfaultClient("", token="t" * 43)


def test_a_route_is_added_for_a_new_node_faulted_like_any_and_removed(proxy: FaultProxy, upstream: Upstream) -> None:
    client = control(proxy)
    added = client.add_route("primary-2", upstream.server_address[1])
    assert added.name == "primary-2" and added.listen_port > 0
    body, _ = request(added.listen_port, "POST", "/echo", b"scaled out")
    assert body == b"scaled out"
    client.set_fault("primary-2", Fault(latency_ms=80))
    _, took = request(added.listen_port, "POST", "/echo", b"x")
    assert took >= 0.08
    with pytest.raises(ComponentError, match="route 'primary-2' exists"):
        client.add_route("primary-2", upstream.server_address[1])
    with pytest.raises(ComponentError, match="invalid route: upstream_port"):
        client.add_route("primary-3", 0)
    client.remove_route("primary-2")
    assert "primary-2" not in {r.name for r in client.routes()}
    with pytest.raises(OSError):
        request(added.listen_port, "POST", "/echo", b"x", timeout=1.0)
    with pytest.raises(ComponentError, match="404: no route 'primary-2'"):
        client.remove_route("primary-2")


def test_fault_and_config_validation() -> None:
    with pytest.raises(ValidationError, match="jitter_ms"):
        Fault(latency_ms=10, jitter_ms=11)
    with pytest.raises(ValidationError, match="reset_ratio"):
        Fault(reset_ratio=1.5)
    with pytest.raises(ValidationError, match="bandwidth_kbps"):
        Fault(bandwidth_kbps=0)
    with pytest.raises(ValidationError, match="route names must be unique"):
        ProxyConfig(routes=[RouteConfig(name="a", upstream_port=1), RouteConfig(name="a", upstream_port=2)])
    with pytest.raises(ValidationError, match="name"):
        RouteConfig(name="a/b", upstream_port=1)


# --- failures of the upstream and the process ----------------------------------------------


def dead_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_upstream_fails_the_connection_at_once() -> None:
    dead = dead_port()
    with FaultProxy(ProxyConfig(routes=(RouteConfig(name="node", upstream_port=dead),))).start_thread() as proxy:
        started = time.perf_counter()
        with pytest.raises(ConnectionError):
            request(port(proxy), "POST", "/", b"x")
        assert time.perf_counter() - started < 1.0


def serve_node(port: int = 0) -> Upstream:
    """An HTTP node on 127.0.0.1:``port``, serving on a daemon thread."""
    node = Upstream(("127.0.0.1", port), Echo)
    threading.Thread(target=node.serve_forever, daemon=True).start()
    return node


@contextmanager
def proxy_for(upstream_port: int, how: str, folder: Path) -> Iterator[tuple[int, NetfaultClient]]:
    """One route "node" in front of ``upstream_port``, in a thread or as the real process (uvloop
    when installed): its listening port and control client."""
    routes = [RouteConfig(name="node", upstream_port=upstream_port)]
    if how == "thread":
        with FaultProxy(ProxyConfig(routes=tuple(routes))).start_thread() as running:
            yield port(running), control(running)
        return
    write_config(folder / "routes.json", routes)
    command = [sys.executable, "-m", "drillkit.netfault", "--config", str(folder / "routes.json"),
               "--ready-file", str(folder / "ready.json"), "--token-file", str(folder / TOKEN_FILE)]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until((folder / "ready.json").exists, timeout=10)
        ready = read_ready_file(folder / "ready.json")
        yield ready.routes["node"], NetfaultClient.from_state(folder, f"http://127.0.0.1:{ready.control_port}")
    finally:
        child.kill()
        child.wait(timeout=5)


@pytest.mark.parametrize("how", ["thread", "process"])
def test_a_route_refuses_connections_while_its_node_does_and_listens_again_when_it_is_back(
    tmp_path: Path, how: str
) -> None:
    node = serve_node()
    node_port = node.server_address[1]
    with proxy_for(node_port, how, tmp_path) as (route_port, client):
        assert request(route_port, "POST", "/", b"up")[0] == b"up"
        node.shutdown()
        node.server_close()  # the node is gone: its port refuses connections
        with socket.create_connection(("127.0.0.1", route_port), timeout=2) as sock:  # accepted before we knew
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx")
            assert sock.recv(1) == b""  # a FIN with nothing sent (an empty response), not an RST
        assert wait_until(lambda: client.route("node").refusing)
        with pytest.raises(ConnectionRefusedError):  # as the node's own port does: no accept, then reset
            socket.create_connection(("127.0.0.1", route_port), timeout=2)
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", route_port))  # the port stays the route's meanwhile
        node = serve_node(node_port)  # the node restarts on its port
        try:
            assert wait_until(lambda: not client.route("node").refusing, timeout=2)
            assert request(route_port, "POST", "/", b"back")[0] == b"back"
        finally:
            node.shutdown()
            node.server_close()


def test_the_process_writes_its_ready_file_logs_changes_and_exits_0_on_sigterm(tmp_path: Path, upstream: Upstream) -> None:
    up = upstream.server_address[1]
    write_config(tmp_path / "routes.json", [RouteConfig(name="a", upstream_port=up), RouteConfig(name="b", upstream_port=up)])
    ready_file = tmp_path / "ready.json"
    command = [sys.executable, "-m", "drillkit.netfault", "--config", str(tmp_path / "routes.json"),
               "--control-port", "0", "--ready-file", str(ready_file), "--token-file", str(tmp_path / TOKEN_FILE)]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(ready_file.exists, timeout=10)
        ready = read_ready_file(ready_file)
        assert ready.pid == child.pid and set(ready.routes) == {"a", "b"} and ready.control_port > 0
        client = NetfaultClient.from_state(tmp_path, f"http://127.0.0.1:{ready.control_port}")
        assert client.health()
        client.set_fault("b", Fault(latency_ms=5))
        assert {r.name: r.fault.latency_ms for r in client.routes()} == {"a": 0, "b": 5}
        assert request(ready.routes["a"], "POST", "/", b"hello")[0] == b"hello"
        started = time.monotonic()
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=5)
        assert child.returncode == 0 and time.monotonic() - started < 2
    finally:
        child.kill()
    assert json.loads(stdout.splitlines()[0]) == ready.model_dump()
    assert 'netfault: route b: fault {"latency_ms":0.0' in stderr and '-> {"latency_ms":5.0' in stderr
    assert stderr.splitlines()[-1].endswith("netfault: stopped") and stderr[:2] == "20"  # ISO timestamps


def test_the_process_refuses_a_bad_config_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "routes.json").write_text('{"routes": [{"name": "a"}]}')
    done = subprocess.run([sys.executable, "-m", "drillkit.netfault", "--config", str(tmp_path / "routes.json"),
                           "--token-file", str(tmp_path / TOKEN_FILE)],
                          capture_output=True, text=True, timeout=20)  # fmt: skip
    assert done.returncode == 2 and "upstream_port" in done.stderr


def test_connections_waiting_in_the_backlog_when_a_route_starts_refusing_get_an_empty_answer_not_a_reset() -> None:
    # At a region outage HAProxy has connections in the route's backlog, requests sent, when the
    # route stops listening; closing the listener would reset them, and HAProxy waits a turn-around
    # (0.24 to 1.2 s seen) before it retries a reset. Taken first, they end like any connection to
    # a dead node: a FIN and nothing sent, an empty response retried at once.
    dead = dead_port()

    async def drill() -> list[bytes | str]:
        route = Route(RouteConfig(name="node", upstream_port=dead))
        await route.start()
        # The loop does not run between these lines: the kernel completes each handshake and
        # holds the connection, request and all, in the listener's backlog.
        clients = [socket.create_connection(("127.0.0.1", route.listen_port), timeout=2) for _ in range(4)]
        for client in clients:
            client.sendall(b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx")
            client.setblocking(False)
        route.refuse_connections()  # as a pipe does when its node refuses the dial
        loop = asyncio.get_running_loop()

        async def answer(client: socket.socket) -> bytes | str:
            try:
                return await asyncio.wait_for(loop.sock_recv(client, 1), 5)
            except ConnectionResetError:
                return "reset"
            finally:
                client.close()

        try:
            return list(await asyncio.gather(*(answer(c) for c in clients)))
        finally:
            route.close()

    assert asyncio.run(drill()) == [b""] * 4
