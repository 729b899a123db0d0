"""Per-try timeouts and the retry budget on the real gateway: keep-alive clients -> HAProxy (the
rendered config of ``drills/environments/local.yaml``) -> four node processes whose answers take
as long as the test says. Each node counts the requests that reached it (the clients mark theirs;
health checks are neither counted nor slowed), which is the load the gateway really offered the nodes.

- A heavy but healthy search (a large catalogue on a busy node) is not retried into failure:
  the timeout derived from the measured latency lets it finish, once, where a tight fixed
  timeout (the control) duplicates it.
- A region-wide slowdown (every node slower than the per-try timeout) is not multiplied into a
  retry storm: the nodes see at most the budget's share more requests than the clients sent,
  where the same gateway without the budget (the control) multiplies them.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.gateway import Backend, GatewayPlan, RuntimeApi, ServerStatus, write_config
from drillkit.spec import GatewaySpec
from drillkit.try_timeout import derive
from tests.unit.test_gateway_failover import NODES, _free_port, _wait_all_up

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by `make setup`")

REPO = Path(__file__).resolve().parents[2]
MARK = "X-Test-Request"
NODE = r"""
import os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAYS = {"recommend": float(sys.argv[1]), "search": float(sys.argv[2])}
count, lock = [0], threading.Lock()

class Node(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self._answer(str(count[0]).encode() if self.path == "/count" else b"ready")

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        mark = self.headers.get("X-Test-Request")  # "1": a test request, "0": a measurement, none: a health check
        if mark == "1":
            with lock:
                count[0] += 1
        if mark is not None:
            time.sleep(1.0 if self._first_to_see(self.headers.get("X-Test-Slow")) else DELAYS[self.path.split("/")[3]])
        try:
            self._answer(b"answer")
        except OSError:
            pass  # the gateway gave up on this try

    def _first_to_see(self, token):
        # A slow request is slow on the first node that gets it (a busy node), not on its retry.
        if not token:
            return False
        try:
            os.close(os.open(os.path.join(sys.argv[3], token), os.O_CREAT | os.O_EXCL))
            return True
        except FileExistsError:
            return False

    def _answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class Gateway:
    port: int
    api: RuntimeApi
    node_ports: dict[str, int]
    try_map: Path

    def arrivals(self) -> int:
        """Marked requests that reached any node (each try counts)."""
        return sum(int(_get(port, "/count")) for port in self.node_ports.values())


@contextmanager
def _running(folder: Path, delays: tuple[float, float], timeouts: dict[str, int] | None, *,
             hung: tuple[str, ...] = (), **settings: Any) -> Iterator[Gateway]:  # fmt: skip
    nodes: dict[str, subprocess.Popen[str]] = {}
    haproxy = None
    try:
        ports = {}
        for name in NODES:
            own = (5.0, 5.0) if name in hung else delays  # a hung node: its checks pass (GET), its answers never come
            proc = subprocess.Popen([sys.executable, "-c", NODE, str(own[0]), str(own[1]), str(folder)],
                                    stdout=subprocess.PIPE, text=True)  # fmt: skip
            nodes[name] = proc
            assert proc.stdout is not None
            ports[name] = int(proc.stdout.readline())
        spec = {**yaml.safe_load((REPO / "drills/environments/local.yaml").read_text())["gateway"], **settings}
        backends = tuple(Backend(n, n.split("-")[0], ports[n], backup=n.startswith("standby")) for n in NODES)
        plan = GatewayPlan(bind_port=_free_port(), stats_port=_free_port(), socket=folder / "haproxy.sock",
                           region_map=folder / "regions.map", spec=GatewaySpec(**spec), backends=backends,
                           try_map=folder / "try.map", script=folder / "gateway.lua")  # fmt: skip
        write_config(plan, folder / "haproxy.cfg", timeouts)
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(folder / "haproxy.cfg")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        api = RuntimeApi(plan.socket)
        _wait_all_up(api)
        yield Gateway(plan.bind_port, api, ports, plan.try_map)
    finally:
        for proc in [*nodes.values(), haproxy]:
            if proc is not None:
                proc.kill()
                proc.wait(timeout=5)


def _send(port: int, model: str, timeout_s: float = 10.0, *, slow: bool = False) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    headers = {MARK: "1", "Content-Type": "application/json"} | ({"X-Test-Slow": f"slow-{time.monotonic_ns()}"} if slow else {})
    try:
        conn.request("POST", f"/v2/models/{model}/infer", body=b"{}", headers=headers)
        response = conn.getresponse()
        response.read()
        return str(response.status)
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()


def _open_loop(port: int, model: str, *, rate: float, count: int, workers: int = 32) -> list[str]:
    """``count`` requests at ``rate`` a second on a fixed schedule (bounded in count and time)."""
    start = time.monotonic()

    def one(i: int) -> str:
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        return _send(port, model)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def _measure_node(port: int, model: str, *, count: int, concurrency: int) -> list[float]:
    """Latencies in ms of ``count`` unmarked requests sent straight to a node, ``concurrency`` at a time."""
    def one(_: int) -> float:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", f"/v2/models/{model}/infer", body=b"{}", headers={MARK: "0"})
            conn.getresponse().read()
        finally:
            conn.close()
        return (time.monotonic() - started) * 1e3

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


HEAVY_S = 0.25  # a search over a large catalogue on a busy node: slow, but healthy


def test_a_heavy_but_healthy_search_is_not_retried_into_failure(tmp_path: Path) -> None:
    spec = GatewaySpec(**yaml.safe_load((REPO / "drills/environments/local.yaml").read_text())["gateway"])
    with _running(tmp_path, (0.005, HEAVY_S), None) as gateway:
        samples = {m: _measure_node(gateway.node_ports["primary-0"], m, count=20, concurrency=4) for m in ("recommend", "search")}
        tuned = derive(samples, spec)
        assert tuned.models["search"] >= 2 * HEAVY_S * 1e3 > tuned.models["recommend"]
        for model, ms in tuned.models.items():
            gateway.api.set_try_timeout(gateway.try_map, model, ms)
        before = gateway.api.counters()
        outcomes = _open_loop(gateway.port, "search", rate=20, count=40)
        assert outcomes == ["200"] * 40
        assert gateway.arrivals() == 40  # each search ran once: none was duplicated by a retry
        assert gateway.api.counters().retries == before.retries


def test_control_a_tight_fixed_timeout_duplicates_the_heavy_search(tmp_path: Path) -> None:
    """Without the derived timeout the same searches are retried: the harness above can see it."""
    with _running(tmp_path, (0.005, HEAVY_S), {"recommend": 100, "search": 100}) as gateway:
        outcomes = _open_loop(gateway.port, "search", rate=20, count=20)
        assert gateway.arrivals() > len(outcomes) or outcomes != ["200"] * len(outcomes)


def test_a_node_a_try_was_retried_from_is_taken_out_at_once(tmp_path: Path) -> None:
    """A hung node whose health checks still pass (HAProxy's passive checks see only final answers,
    and these are all good after the retry) is ejected by the script at its second retried try."""
    with _running(tmp_path, (0.005, 0.005), {"recommend": 100, "search": 100}, hung=("primary-0",)) as gateway:
        outcomes, deadline = [], time.monotonic() + 3.0  # checks alone would take >= 1 s (fall 2 x 500 ms)
        while time.monotonic() < deadline and gateway.api.servers()[0].status is ServerStatus.UP:
            with ThreadPoolExecutor(2) as pool:  # two at a time: leastconn sends one of them to the hung node
                outcomes += pool.map(lambda _: _send(gateway.port, "recommend"), range(2))
        first = gateway.api.servers()[0]
        assert first.name == "primary-0" and first.status is not ServerStatus.UP, first
        assert all(s.status is ServerStatus.UP for s in gateway.api.servers()[1:])
        assert set(outcomes) == {"200"} and len(outcomes) <= 8  # taken out within a few requests, none failed


def test_one_slow_but_healthy_request_does_not_take_its_node_out(tmp_path: Path) -> None:
    with _running(tmp_path, (0.005, 0.005), {"recommend": 100, "search": 100}) as gateway:
        assert _send(gateway.port, "recommend", slow=True) == "200"  # retried elsewhere after 100 ms
        assert gateway.api.counters().retries == 1
        time.sleep(0.3)  # several of the script's 50 ms samples
        assert all(s.status is ServerStatus.UP for s in gateway.api.servers())


def test_ejection_leaves_half_of_the_nodes_up(tmp_path: Path) -> None:
    """Every node hung (or a poison request failing everywhere): the script ejects two of four, no more
    (HAProxy's own passive checks, which see the final 504s, are a separate matter)."""
    with _running(tmp_path, (0.005, 0.005), {"recommend": 100, "search": 100}, hung=NODES, check_interval_ms=5000,
                  error_limit=0) as gateway:  # HAProxy's own passive checks off: the script alone
        for _ in range(6):
            _send(gateway.port, "recommend")
        time.sleep(0.2)
        up = [s.name for s in gateway.api.servers() if s.status is ServerStatus.UP]
        assert len(up) == 2, gateway.api.servers()


SLOW_S = 0.3  # every node, both regions: a region-wide slowdown past the 100 ms per-try timeout
RATE, COUNT = 50.0, 200  # 4 s of open-loop load


def test_a_region_wide_slowdown_does_not_multiply_the_load_past_the_retry_budget(tmp_path: Path) -> None:
    with _running(tmp_path, (SLOW_S, SLOW_S), {"recommend": 100, "search": 100}) as gateway:
        spec = GatewaySpec(**yaml.safe_load((REPO / "drills/environments/local.yaml").read_text())["gateway"])
        _open_loop(gateway.port, "recommend", rate=RATE, count=COUNT)
        duration_s = COUNT / RATE
        # every request once, plus the budget's share and its floor (the whole test fits in one
        # window), plus the requests of one sampling step (the script samples every 50 ms)
        assert duration_s < spec.retry_budget_window_s
        allowed = COUNT * (1 + spec.retry_budget_percent / 100) + spec.retry_budget_min_per_s * spec.retry_budget_window_s + RATE * 0.05
        arrivals = gateway.arrivals()
        assert arrivals <= allowed, f"{arrivals} requests reached the nodes for {COUNT} sent (allowed {allowed:.0f})"


def test_control_without_the_budget_the_slowdown_multiplies_the_load(tmp_path: Path) -> None:
    with _running(tmp_path, (SLOW_S, SLOW_S), {"recommend": 100, "search": 100}, retry_budget_percent=0) as gateway:
        _open_loop(gateway.port, "recommend", rate=RATE, count=COUNT)
        assert gateway.arrivals() > 1.5 * COUNT  # retries replayed most requests at least once more


def _get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()
