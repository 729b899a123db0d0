"""The gateway past its capacity and growing: the real HAProxy with node processes behind the
fault proxy (the harness of test_gateway_failover).

- Overload: each node takes ``maxconn_per_node`` requests at once, ``max_queue`` wait in the
  gateway's queue, and every request past that is shed at once with a 503 that says so.
- A request naming a region (``X-Drillkit-Region-Target``) reaches that region's nodes only.
- A scale-out slot, declared disabled, serves once it is pointed at a new node, and stops
  serving when it is emptied.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from drillkit.gateway import Backend, GatewayPlan, RuntimeApi, ServerStatus, write_config
from drillkit.headers import SHED_HEADER, TARGET_HEADER
from drillkit.netfault import FaultProxy, ProxyConfig, RouteConfig
from drillkit.spec import GatewaySpec
from tests.unit.test_gateway_failover import NODE, _free_port

pytestmark = pytest.mark.skipif(subprocess.run(["which", "haproxy"], capture_output=True).returncode != 0,
                                reason="haproxy is installed by `make setup`")  # fmt: skip

NODES = ("primary-0", "primary-1", "standby-0")
SLOT = "primary-2"


class Running:
    def __init__(self, port: int, api: RuntimeApi, slot_node: int) -> None:
        self.port, self.api, self.slot_node = port, api, slot_node


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    procs = {n: subprocess.Popen([sys.executable, "-c", NODE], stdout=subprocess.PIPE, text=True) for n in (*NODES, SLOT)}
    haproxy = None
    try:
        ports = {n: int(p.stdout.readline()) for n, p in procs.items()}  # type: ignore[union-attr]
        with FaultProxy(ProxyConfig(routes=tuple(RouteConfig(name=n, upstream_port=ports[n]) for n in NODES))).start_thread() as proxy:
            assert proxy.ready is not None
            backends = (*(Backend(n, n.rsplit("-", 1)[0], proxy.ready.routes[n], backup=n.startswith("standby")) for n in NODES),
                        Backend(SLOT, "primary", 1, backup=False, slot=True))  # fmt: skip
            spec = GatewaySpec(maxconn_per_node=1, max_queue=2, queue_timeout_ms=2000, check_interval_ms=100, rise=1, fall=1,
                               eject_on_retry=False, retry_budget_percent=0)  # fmt: skip
            plan = GatewayPlan(bind_port=_free_port(), stats_port=_free_port(), socket=tmp_path / "h.sock",
                               region_map=tmp_path / "regions.map", spec=spec, backends=backends, try_map=tmp_path / "try.map",
                               script=tmp_path / "gateway.lua")  # fmt: skip
            write_config(plan, tmp_path / "haproxy.cfg")
            haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            api = RuntimeApi(plan.socket)
            deadline = time.monotonic() + 10
            while not _states(api).get("standby-0") == ServerStatus.UP and time.monotonic() < deadline:
                time.sleep(0.05)
            yield Running(plan.bind_port, api, ports[SLOT])
    finally:
        for proc in [*procs.values(), haproxy]:
            if proc is not None:
                proc.kill()
                proc.wait(timeout=5)


def _states(api: RuntimeApi) -> dict[str, ServerStatus]:
    try:
        return {s.name: s.status for s in api.servers()}
    except Exception:  # noqa: BLE001  (the socket is not there yet)
        return {}


def post(port: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.perf_counter()
    try:
        conn.request("POST", "/v2/models/recommend/infer", body=b"{}", headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, time.perf_counter() - started
    finally:
        conn.close()


def test_past_the_queue_requests_are_shed_at_once_and_say_so(running: Running) -> None:
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda _: post(running.port), range(24)))
    shed = [r for r in results if r[0] == 503]
    served = [r for r in results if r[0] == 200]
    assert len(served) + len(shed) == 24 and shed and served, [r[0] for r in results]
    assert all(h.get(SHED_HEADER.lower()) == "overload" for _, h, _ in shed)
    assert max(t for _, _, t in shed) < 0.5  # answered at once, not after the queue's wait
    assert {h["x-drillkit-region"] for _, h, _ in served} == {"primary"}  # the standby is a backup: not used for overload


def test_a_request_naming_a_region_reaches_only_its_nodes(running: Running) -> None:
    answers = [post(running.port, {TARGET_HEADER: "standby"}) for _ in range(5)]
    assert {(s, h["x-drillkit-node"]) for s, h, _ in answers} == {(200, "standby-0")}
    primary = {post(running.port, {TARGET_HEADER: "primary"})[1]["x-drillkit-node"] for _ in range(6)}
    assert primary <= {"primary-0", "primary-1"} and primary


def test_a_slot_serves_once_filled_and_stops_once_emptied(running: Running) -> None:
    assert _states(running.api)[SLOT] == ServerStatus.MAINT
    running.api.fill_slot(SLOT, "primary", running.slot_node)
    deadline = time.monotonic() + 10
    while _states(running.api)[SLOT] != ServerStatus.UP and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _states(running.api)[SLOT] == ServerStatus.UP
    seen = {post(running.port, {TARGET_HEADER: "primary"})[1]["x-drillkit-node"] for _ in range(30)}
    assert SLOT in seen
    running.api.empty_slot(SLOT, "primary")
    assert _states(running.api)[SLOT] == ServerStatus.MAINT
    assert SLOT not in {post(running.port)[1]["x-drillkit-node"] for _ in range(12)}
