"""Scaling a local region out and in, live.

Out: a new node starts on free ports (serving the version its region serves) and must answer
that version's golden probes, the fault proxy gets a route for it (so faults reach it as any node), Prometheus finds it by file
discovery, the gateway's pre-declared slot for it (``regions[].max_nodes``) is pointed at the
route and taken out of maintenance, and the step ends when the gateway has it UP. In: the
highest-numbered nodes are drained first (no new request; those in flight finish), put back
in maintenance, stopped, and their route and scrape target removed.

>>> scale(platform, "primary", 3)   # doctest: +SKIP
ScaleResult(region='primary', from_nodes=2, to_nodes=3, nodes=['primary-2'], ...)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from drillkit import gateway, supervise
from drillkit.backup.golden import node_serves
from drillkit.errors import NotUpError
from drillkit.netfault import NetfaultClient
from drillkit.netutil import free_port
from drillkit.observe import NodeTarget, write_node_target
from drillkit.platforms import local_start
from drillkit.platforms.base import ScaleResult, scale_bounds
from drillkit.platforms.local_state import LocalState, NodeRecord, exclusive, load_state, save_state

if TYPE_CHECKING:
    from drillkit.platforms.local import LocalPlatform

LOCK_WAIT_S = 120.0  # an autoscaler's scale-out and a rollback's scale-in take turns
DRAINED_GRACE_S = 1.0  # a drained node has no request in flight: Triton's graceful stop would wait for idle connections


def scale(p: LocalPlatform, region: str, nodes: int) -> ScaleResult:
    """Bring ``region`` to ``nodes`` nodes (see the module docstring)."""
    scale_bounds(p.spec, p.spec_file or p.name, region, nodes)
    requested = time.time()
    current = _region_nodes(_state(p), region)
    if nodes > len(current):
        names = [f"{region}-{i}" for i in range(len(current), nodes)]
        ready = _start(p, region, names)
        serving = _serve(p, region, names)
    else:
        names = [n.name for n in current[nodes:]]
        ready = serving = _stop(p, region, names)
    return ScaleResult(region=region, from_nodes=len(current), to_nodes=nodes, nodes=names, requested_at=requested,
                       ready_at=ready, serving_at=serving)  # fmt: skip


def _state(p: LocalPlatform) -> LocalState:
    state = load_state(p.state_path)
    if state is None:
        raise NotUpError(f"environment {p.name!r} is not up: run `drillkit up` first")
    return state


def _region_nodes(state: LocalState, region: str) -> list[NodeRecord]:
    return sorted((n for n in state.nodes if n.region == region), key=lambda n: int(n.name.rsplit("-", 1)[1]))


def _start(p: LocalPlatform, region: str, names: list[str]) -> float:
    """Start the nodes at once (each recorded as it is spawned); wait until all are ready."""
    with exclusive(p.root / "lock", p.name, wait_s=LOCK_WAIT_S):
        state = _state(p)
        version = state.version_of(_region_nodes(state, region)[0])
        serves = None if version == state.model_version else version
        fresh = []
        for name in names:
            repo = local_start.region_repo(p, region)
            fresh.append(local_start.spawn_node(p, name, region, repo, (free_port(), free_port(), free_port()), serves))
            state.nodes.append(fresh[-1])
            save_state(p.state_path, state)
        deadline = time.monotonic() + p.start_timeout_s
        for record in fresh:
            local_start.wait_for(lambda r=record: local_start.node_ready(r, state.models), [r.process for r in fresh],
                                 deadline, f"node {record.name}")  # fmt: skip
    for record in fresh:  # a node that answers other items than its region never gets a slot
        node_serves(local_start.region_repo(p, region) / version, f"http://127.0.0.1:{record.http_port}", record.name)
    return time.time()


def _serve(p: LocalPlatform, region: str, names: list[str]) -> float:
    """Route, scrape and gateway slot for each new node; wait until the gateway has them UP."""
    with exclusive(p.root / "lock", p.name, wait_s=LOCK_WAIT_S):
        state = _state(p)
        proxy = NetfaultClient.from_state(p.root, state.netfault_url)
        api = gateway.RuntimeApi(state.haproxy_socket or p.root / "haproxy.sock")
        for name in names:
            record = state.node(name)
            record.proxy_port = proxy.add_route(name, record.http_port).listen_port
            save_state(p.state_path, state)
            write_node_target(p.root / local_start.SCALED, NodeTarget(name, region, record.metrics_port, local_start.role_of(p, region)))
            api.set_version(p.root / local_start.VERSION_MAP, name, state.version_of(record))
            api.fill_slot(name, region, record.proxy_port)
    procs = [state.node(n).process for n in names]
    local_start.wait_for(lambda: _all_up(api, names), procs, time.monotonic() + p.start_timeout_s, f"gateway ({', '.join(names)} UP)")
    return time.time()


def _all_up(api: gateway.RuntimeApi, names: list[str]) -> bool:
    status = {s.name: s.status for s in api.servers()}
    return all(status.get(n) is gateway.ServerStatus.UP for n in names)


def _stop(p: LocalPlatform, region: str, names: list[str]) -> float:
    """Drain, then end the nodes; their route, scrape target and state record go with them."""
    state = _state(p)
    api = gateway.RuntimeApi(state.haproxy_socket or p.root / "haproxy.sock")
    for name in names:
        for backend in (gateway.BACKEND, gateway.region_backend(region)):
            api.set_state(name, "drain", backend=backend)
    deadline = time.monotonic() + p.spec.gateway.server_timeout_ms / 1e3
    while time.monotonic() < deadline and any(s.active_sessions for s in api.servers() if s.name in names):
        time.sleep(0.05)
    with exclusive(p.root / "lock", p.name, wait_s=LOCK_WAIT_S):
        state = _state(p)
        proxy = NetfaultClient.from_state(p.root, state.netfault_url)
        for name in names:
            api.empty_slot(name, region)
            record = state.node(name)
            supervise.terminate([record.process], grace_s=DRAINED_GRACE_S)
            local_start.clean_node_leftovers(p.root, record)
            if record.proxy_port is not None:  # a node refused before it was routed has no route
                proxy.remove_route(name)
            (p.root / local_start.SCALED / f"{name}.json").unlink(missing_ok=True)
            state.nodes.remove(record)
            save_state(p.state_path, state)
    return time.time()
