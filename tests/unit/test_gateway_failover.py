"""A region outage on the real gateway path, without Triton: keep-alive clients -> HAProxy (the
rendered config of ``drills/environments/local.yaml``) -> the fault proxy -> four node processes.
Both primary nodes are SIGKILLed while requests flow, and not one request may fail: HAProxy
retries each one onto the standby region. The clients never retry (``http.client`` does not),
so a connection HAProxy closes without an answer is counted as the failure it is.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drillkit.errors import ComponentError
from drillkit.gateway import (
    Backend,
    GatewayPlan,
    RuntimeApi,
    ServerStatus,
    write_config,
)
from drillkit.netfault import FaultProxy, ProxyConfig, RouteConfig
from drillkit.spec import GatewaySpec

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by `make setup`")

REPO = Path(__file__).resolve().parents[2]
NODES = ("primary-0", "primary-1", "standby-0", "standby-1")
NODE = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Node(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self._answer(b"ready")

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.03)  # an inference's worth, so requests are in flight when the node dies
        self._answer(b"answer")

    def _answer(self, body):
        # one write, as a real server sends a small answer: killed between a header write and
        # a body write, the node would leave HAProxy a half-sent answer it can no longer retry
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.wfile.write(head + body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Gateway:
    """The running path: node processes by name, and HAProxy's port and runtime API."""

    def __init__(self, nodes: dict[str, subprocess.Popen[str]], port: int, api: RuntimeApi) -> None:
        self.nodes, self.port, self.api = nodes, port, api


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    nodes = {name: subprocess.Popen([sys.executable, "-c", NODE], stdout=subprocess.PIPE, text=True) for name in NODES}
    haproxy: subprocess.Popen[bytes] | None = None
    try:
        ports = {name: int(proc.stdout.readline()) for name, proc in nodes.items()}  # type: ignore[union-attr]
        routes = tuple(RouteConfig(name=name, upstream_port=port) for name, port in ports.items())
        with FaultProxy(ProxyConfig(routes=routes)).start_thread() as proxy:
            assert proxy.ready is not None
            plan = _plan(tmp_path, proxy.ready.routes)
            haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            api = RuntimeApi(plan.socket)
            _wait_all_up(api)
            yield Gateway(nodes, plan.bind_port, api)
    finally:
        for proc in [*nodes.values(), haproxy]:
            if proc is not None:
                proc.kill()
                proc.wait(timeout=5)


def _plan(folder: Path, route_ports: dict[str, int]) -> GatewayPlan:
    settings = yaml.safe_load((REPO / "drills/environments/local.yaml").read_text())["gateway"]
    backends = tuple(Backend(name, name.split("-")[0], route_ports[name], backup=name.startswith("standby"))
                     for name in NODES)  # fmt: skip
    plan = GatewayPlan(bind_port=_free_port(), stats_port=_free_port(), socket=folder / "haproxy.sock",
                       region_map=folder / "regions.map", spec=GatewaySpec(**settings), backends=backends,
                       try_map=folder / "try.map", script=folder / "gateway.lua")  # fmt: skip
    write_config(plan, folder / "haproxy.cfg")
    return plan


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_all_up(api: RuntimeApi, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            servers = api.servers()
        except ComponentError:  # the socket is not there yet
            servers = []
        if len(servers) == len(NODES) and all(s.status is ServerStatus.UP for s in servers):
            return
        time.sleep(0.05)
    raise AssertionError(f"the gateway's servers never all came UP: {servers}")


class Client(threading.Thread):
    """One keep-alive connection sending requests back to back; records every outcome, never retries."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.outcomes: list[tuple[float, str, str]] = []  # (sent at, status or error, serving node)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                conn.request("POST", "/v2/models/recommend/infer", body=b'{"user": 7}')
                response = conn.getresponse()
                response.read()
                self.outcomes.append((sent, str(response.status), response.getheader("X-Drillkit-Node", "")))
            except (OSError, http.client.HTTPException) as exc:
                self.outcomes.append((sent, type(exc).__name__, ""))
                conn.close()  # a new connection next time; the failed request stays failed
            time.sleep(0.005)


def test_a_region_outage_fails_over_with_no_failed_request(gateway: Gateway) -> None:
    stop = threading.Event()
    clients = [Client(gateway.port, stop) for _ in range(12)]
    for client in clients:
        client.start()
    time.sleep(0.8)
    killed_at = time.monotonic()
    for name in ("primary-0", "primary-1"):  # one after the other, as the local platform does
        os.kill(gateway.nodes[name].pid, signal.SIGKILL)
        gateway.nodes[name].wait(timeout=5)
    time.sleep(1.2)
    stop.set()
    for client in clients:
        client.join(timeout=15)
    outcomes = [o for client in clients for o in client.outcomes]
    failed = [o for o in outcomes if o[1] != "200"]
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed: {failed[:10]}"
    after = {node for sent, _, node in outcomes if sent > killed_at + 0.3}
    assert after and after <= {"standby-0", "standby-1"}, after  # the standby region took over
    assert {s.name: s.status for s in gateway.api.servers()}["primary-0"] is ServerStatus.DOWN
