"""The embedded 2x2 stack, for real: Triton nodes, fault proxy, HAProxy, Prometheus on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit import supervise
from drillkit.chaos.undo import UNDOS
from drillkit.errors import AlreadyUpError, NotUpError
from drillkit.gateway import RuntimeApi, ServerStatus
from drillkit.model.client import RecommenderClient
from drillkit.netutil import http_status
from drillkit.platforms.base import Health
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.local_state import load_state
from drillkit.smoke import run_probes
from drillkit.workload.golden import golden_of
from tests.integration.conftest import make_spec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    """A port something else listens on: the gateway must move to a free one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, taken_port: int) -> Iterator[LocalPlatform]:
    platform = LocalPlatform(make_spec(tmp_path_factory.mktemp("state"), gateway_port=taken_port))
    platform.up()
    try:
        yield platform
    finally:
        platform.down()


def test_up_serves_golden_answers_from_the_primary_region(stack: LocalPlatform) -> None:
    status = stack.status()
    assert status.up
    golden = golden_of(stack.spec.state_dir / "models" / "v1")
    results = run_probes(status.gateway_url or "", golden)
    assert len(results) >= 8
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert {r.region for r in results} == {"primary"}
    assert {r.model for r in results} == {"recommend", "search"}


def test_every_component_is_ready_and_the_gateway_moved_off_a_taken_port(
    stack: LocalPlatform, taken_port: int
) -> None:
    status = stack.status()
    assert [c.health for c in status.components] == [Health.READY] * 7
    assert {c.gateway_state for c in status.nodes()} == {"UP"}
    assert status.gateway_url and not status.gateway_url.endswith(f":{taken_port}")
    assert http_status(f"{status.prometheus_url}/-/ready") == 200


def test_prometheus_scrapes_nodes_with_region_labels(stack: LocalPlatform) -> None:
    import json
    import urllib.parse
    import urllib.request

    url = stack.status().prometheus_url
    query = urllib.parse.urlencode({"query": 'up{job="triton"} == 1'})
    deadline = time.monotonic() + 20
    labels: set[tuple[str, str]] = set()
    while time.monotonic() < deadline and len(labels) < 4:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=2) as answer:
            result = json.load(answer)["data"]["result"]
        labels = {(r["metric"]["region"], r["metric"]["node"]) for r in result}
        time.sleep(0.5)
    assert labels == {("primary", "primary-0"), ("primary", "primary-1"), ("standby", "standby-0"), ("standby", "standby-1")}


def test_a_malformed_request_is_an_error_and_the_node_keeps_serving(stack: LocalPlatform) -> None:
    client = RecommenderClient(stack.status().gateway_url or "")
    bad = client.recommend(user_id=1, k=0)
    assert bad.status >= 400 and bad.error is not None and "k must be 1..1000" in bad.error
    assert client.recommend(user_id=1, k=5).error is None


def test_a_second_up_is_refused_and_starts_nothing(stack: LocalPlatform) -> None:
    before = load_state(stack.state_path)
    with pytest.raises(AlreadyUpError, match="already up"):
        LocalPlatform(stack.spec).up()
    after = load_state(stack.state_path)
    assert before is not None and after is not None
    assert [p.pid for p in before.processes()] == [p.pid for p in after.processes()]
    assert all(supervise.alive(p) for p in after.processes())


def test_requests_keep_succeeding_when_a_primary_node_is_killed(stack: LocalPlatform) -> None:
    url = stack.status().gateway_url or ""
    replies: list = []
    stop = threading.Event()

    def send() -> None:
        client = RecommenderClient(url)
        for i in range(5_000):  # bounded; stops well before when the test is done
            if stop.is_set():
                return
            replies.append(client.recommend(user_id=i % 1_000, k=10))

    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(1.0)
        stack.kill_node("primary-0")
        time.sleep(3.0)
    finally:
        stop.set()
        sender.join(timeout=10)
    failed = [r for r in replies if r.error is not None]
    assert len(replies) > 100 and failed == []
    assert replies[-1].node == "primary-1"
    api = RuntimeApi(stack.root / "haproxy.sock")
    assert {s.name: s.status for s in api.servers()}["primary-0"] is ServerStatus.DOWN


def test_a_killed_node_restarts_and_rejoins_the_gateway(stack: LocalPlatform) -> None:
    stack.restart_node("primary-0")
    api = RuntimeApi(stack.root / "haproxy.sock")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and {s.name: s.status for s in api.servers()}["primary-0"] is not ServerStatus.UP:
        time.sleep(0.2)
    assert {s.name: s.status for s in api.servers()}["primary-0"] is ServerStatus.UP


def test_the_hang_undo_restarts_a_node_that_did_not_survive_its_stop(stack: LocalPlatform) -> None:
    # Triton's Python backend can crash half a second after SIGCONT; a node killed while
    # stopped is the deterministic form of it. The rollback must leave it serving, and say so.
    stack.pause_node("primary-1")
    stack.kill_node("primary-1")
    note = UNDOS["resume_nodes"](stack, nodes=["primary-1"])
    assert note == "primary-1 did not stay ready after the resume; restarted"
    assert {n.name: n.health for n in stack.status().nodes()}["primary-1"] is Health.READY
    assert UNDOS["resume_nodes"](stack, nodes=["primary-1"]) is None  # a live node is only resumed


def test_down_leaves_no_process_of_the_stack(stack: LocalPlatform) -> None:
    state = load_state(stack.state_path)
    assert state is not None
    pids = [pid for proc in state.processes() for pid in supervise.group_pids(proc)]
    assert len(pids) >= 4 * 3 + 3  # each node: python, tritonserver, 2 backend stubs
    stopped = stack.down()
    assert len(stopped) == 7
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists() and _not_zombie(pid)] == []
    assert not stack.state_path.exists()
    assert not stack.status().up
    with pytest.raises(NotUpError):
        stack.kill_node("primary-1")


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
