"""Live status of a local environment: each recorded process, checked now."""

from __future__ import annotations

from drillkit import gateway, supervise
from drillkit.errors import ComponentError
from drillkit.netutil import http_status
from drillkit.platforms.base import ComponentKind, ComponentStatus, EnvironmentStatus, Health
from drillkit.platforms.local_state import LocalState, NodeRecord, Phase
from drillkit.spec import EnvironmentSpec, state_root


def environment_status(spec: EnvironmentSpec, state: LocalState | None) -> EnvironmentStatus:
    """Status of every component; ``up`` is true only when all run and the phase is UP."""
    if state is None:
        return EnvironmentStatus(environment=spec.name, platform=spec.platform, up=False)
    servers = gateway_servers(state)
    rows = [_node_row(n, servers.get(n.name), state.version_of(n)) for n in state.nodes] + _service_rows(state)
    prometheus_url = f"http://127.0.0.1:{state.prometheus_port}" if state.prometheus_port else spec.prometheus.url
    return EnvironmentStatus(
        environment=spec.name,
        platform=spec.platform,
        up=state.phase is Phase.UP and all(r.health is not Health.DEAD for r in rows if r.kind is not ComponentKind.NODE),
        started_at=state.started_at,
        gateway_url=state.gateway_url,
        prometheus_url=prometheus_url,
        netfault_url=state.netfault_url,
        model_version=state.model_version,
        loadgen_targets_dir=str(state_root(spec).resolve() / "loadgen") if state.prometheus_port else None,
        alertmanager_url=f"http://127.0.0.1:{state.alertmanager_port}" if state.alertmanager_port else spec.alertmanager_url,
        notifications_file=str(state_root(spec).resolve() / "alerting" / "notifications.jsonl") if state.receiver_port else None,
        try_timeouts_ms=state.try_timeouts.models if state.try_timeouts else {},
        components=tuple(rows),
    )


def _node_row(record: NodeRecord, gateway_state: str | None, version: str) -> ComponentStatus:
    return ComponentStatus(
        name=record.name,
        kind=ComponentKind.NODE,
        region=record.region,
        health=_node_health(record),
        pid=record.process.pid,
        endpoint=f"http://127.0.0.1:{record.http_port}",
        metrics_url=f"http://127.0.0.1:{record.metrics_port}/metrics",
        gateway_state=gateway_state,
        version=version,
    )


def _node_health(record: NodeRecord) -> Health:
    if not supervise.alive(record.process):
        return Health.DEAD
    if supervise.paused(record.process):
        return Health.PAUSED
    ready = http_status(f"http://127.0.0.1:{record.http_port}/v2/health/ready", timeout_s=0.5) == 200
    return Health.READY if ready else Health.STARTING


def _service_rows(state: LocalState) -> list[ComponentStatus]:
    services = [
        (state.netfault, ComponentKind.NETFAULT, state.netfault_url),
        (state.haproxy, ComponentKind.GATEWAY, state.gateway_url),
        (state.prometheus, ComponentKind.PROMETHEUS, f"http://127.0.0.1:{state.prometheus_port}"),
        (state.alertmanager, ComponentKind.ALERTMANAGER, f"http://127.0.0.1:{state.alertmanager_port}"),
        (state.receiver, ComponentKind.RECEIVER, f"http://127.0.0.1:{state.receiver_port}/alerts"),
    ]
    return [
        ComponentStatus(
            name=proc.name,
            kind=kind,
            health=Health.READY if supervise.alive(proc) else Health.DEAD,
            pid=proc.pid,
            endpoint=url,
        )
        for proc, kind, url in services
        if proc is not None
    ]


def gateway_counters(state: LocalState) -> gateway.GatewayCounters | None:
    if state.haproxy is None or state.haproxy_socket is None or not supervise.alive(state.haproxy):
        return None
    try:
        return gateway.RuntimeApi(state.haproxy_socket).counters()
    except ComponentError:
        return None


def gateway_servers(state: LocalState) -> dict[str, str]:
    if state.haproxy is None or state.haproxy_socket is None or not supervise.alive(state.haproxy):
        return {}
    try:
        return {s.name: s.status.value for s in gateway.RuntimeApi(state.haproxy_socket).servers()}
    except ComponentError:
        return {}
