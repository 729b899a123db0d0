"""Model versions on the local platform: publish one into every region, move a node onto one.

A node moves the way a rolling upgrade moves a server: the gateway drains it (no new
requests; those in flight finish), it restarts on the version from its region's repository
(the node verifies the manifest first and refuses a damaged copy), its answers are checked
against that version's golden answers straight at the node (a release of your own model has
none until its canary passed: the rollout records them from the canary), the gateway's version map says
which version it serves (the ``X-Drillkit-Version`` header users' answers carry), and only
then is it let back in and waited for until the gateway has it UP.

>>> switch_node(platform, "primary-0", "v2")   # doctest: +SKIP
NodeSwitch(node='primary-0', version='v2', drained_at=..., serving_at=...)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from drillkit import gateway, supervise
from drillkit.backup.golden import node_serves
from drillkit.errors import ComponentError, ModelRepositoryError, NotUpError
from drillkit.model import repository
from drillkit.platforms import local_start
from drillkit.platforms.base import NodeSwitch
from drillkit.platforms.local_state import LocalState, exclusive, load_state, save_state
from drillkit.spec import model_cache

if TYPE_CHECKING:
    from drillkit.platforms.local import LocalPlatform

POLL_S = 0.05
DRAINED_GRACE_S = 1.0


def publish_everywhere(p: LocalPlatform, version: str) -> list[str]:
    """Copy a built version from the model cache into every region's repository, verified
    there (a copy already in place with the same manifest stays); the regions it went to."""
    source = model_cache(p.spec) / version
    if not source.is_dir():
        raise ModelRepositoryError(f"model {version} is not in {model_cache(p.spec)}: build it first (`drillkit model build --version {version}`)")
    for region in p.spec.regions:
        repository.publish(source, local_start.region_repo(p, region.name))
    return [r.name for r in p.spec.regions]


def switch_node(p: LocalPlatform, node: str, version: str) -> NodeSwitch:
    """Move ``node`` onto ``version`` (see the module docstring); StartupError or
    ModelRepositoryError when it cannot serve it (it stays drained: move it back)."""
    state = _state(p)
    api = gateway.RuntimeApi(state.haproxy_socket or p.root / "haproxy.sock")
    api.set_state(node, "drain")
    drained = _drained(api, node, deadline=time.monotonic() + p.spec.gateway.server_timeout_ms / 1e3)
    started = _restart_on(p, node, version)
    record = _state(p).node(node)
    verified = node_serves(local_start.region_repo(p, record.region) / version, f"http://127.0.0.1:{record.http_port}", node)
    api.set_version(p.root / local_start.VERSION_MAP, node, version)
    api.set_state(node, "ready")
    serving = _up(api, node, [record.process], deadline=time.monotonic() + p.start_timeout_s)
    return NodeSwitch(node, version, drained, started, verified, serving)


def _state(p: LocalPlatform) -> LocalState:
    state = load_state(p.state_path)
    if state is None:
        raise NotUpError(f"environment {p.name!r} is not up: run `drillkit up` first")
    return state


def _drained(api: gateway.RuntimeApi, node: str, *, deadline: float) -> float:
    """Wait until the drained node has no request of its own in flight (or the server timeout passed)."""
    while time.monotonic() < deadline:
        server = next((s for s in api.servers() if s.name == node), None)
        if server is None or server.active_sessions == 0:
            break
        time.sleep(POLL_S)
    return time.time()


def _restart_on(p: LocalPlatform, node: str, version: str) -> float:
    """The node's process replaced by one serving ``version`` on the same ports; wait until ready."""
    with exclusive(p.root / "lock", p.name):
        state = _state(p)
        record = state.node(node)
        # Drained: nothing of users' is in flight. Triton's graceful stop would wait up to 30 s
        # for the gateway's idle keep-alive connections, so the grace is short.
        supervise.terminate([record.process], grace_s=DRAINED_GRACE_S)
        local_start.clean_node_leftovers(p.root, record)
        ports = (record.http_port, record.grpc_port, record.metrics_port)
        serves = None if version == state.model_version else version  # the environment's own: recorded as such
        fresh = local_start.spawn_node(p, node, record.region, local_start.region_repo(p, record.region), ports, serves)
        fresh.proxy_port = record.proxy_port
        state.nodes[state.nodes.index(record)] = fresh
        save_state(p.state_path, state)
        local_start.wait_for(lambda: local_start.node_ready(fresh, state.models), [fresh.process],
                             time.monotonic() + p.start_timeout_s, f"node {node} on {version}")  # fmt: skip
    return time.time()


def _up(api: gateway.RuntimeApi, node: str, procs: list[supervise.Process], *, deadline: float) -> float:
    def up() -> bool:
        try:
            return any(s.name == node and s.status is gateway.ServerStatus.UP for s in api.servers())
        except ComponentError:
            return False

    local_start.wait_for(up, procs, deadline, f"gateway (node {node} UP)")
    return time.time()
