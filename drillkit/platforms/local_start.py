"""Starting and stopping the local platform's processes (the steps behind ``LocalPlatform``).

Every spawn is followed by a save of the state file, so a ``drillkit up`` killed at any
point leaves a record that ``drillkit down`` can act on.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from drillkit import gateway, netfault, observe, supervise, try_timeout
from drillkit.alerting import alertmanager, receiver
from drillkit.alerting import rules as alert_rules
from drillkit.alerting.receiver import parse_listen
from drillkit.backup.config import source_of
from drillkit.backup.scheduler import schedule_config
from drillkit.errors import NotUpError, StartupError
from drillkit.model import node as triton_node
from drillkit.model import repository
from drillkit.netutil import free_port, http_status, port_is_free
from drillkit.platforms import provision
from drillkit.platforms.local_state import (
    LocalState,
    NodeRecord,
    exclusive,
    load_state,
    new_state,
    save_state,
    workspace_of,
)
from drillkit.private import private_dir
from drillkit.smoke import verify_gateway
from drillkit.workload import node as workload_node
from drillkit.workload.golden import GoldenSet, recorded_or_builtin, write_golden

if TYPE_CHECKING:
    from drillkit.platforms.local import LocalPlatform

S3_CREDENTIALS = ("AWS_", "DRILLKIT_S3_")  # what boto3 and drillkit.backup.s3 read
TRY_MAP = "try_timeouts.map"
VERSION_MAP = "versions.map"
SCALED = "scaled"  # file discovery of the nodes scaling out added, for Prometheus


def start_all(p: LocalPlatform, binaries: dict[str, str]) -> LocalState:
    """Start every component in order and wait until the whole environment serves."""
    _fresh_root(p.root)
    version_dir = provision.ensure_version(p.spec, p.root.parent / "models", source=p.spec_file or "")
    manifest = repository.verify(version_dir)
    golden = recorded_or_builtin(version_dir, manifest)
    state = new_state(p.name, p.spec_file, manifest.version)
    state.models = manifest.models
    for region in p.spec.regions:
        repo = region_repo(p, region.name)
        provision.publish(version_dir, repo)
        for name in region.node_names():
            state.nodes.append(spawn_node(p, name, region.name, repo, _node_ports()))
            save_state(p.state_path, state)
    _start_netfault(p, state)
    _start_haproxy(p, state, binaries["haproxy"], golden)
    if p.spec.alerting_embedded:
        _start_alerting(p, state, binaries["prometheus-alertmanager"])
    if "prometheus" in binaries:
        _start_prometheus(p, state, binaries["prometheus"])
    _wait_ready(p, state, time.monotonic() + p.start_timeout_s)
    if golden is not None:  # a user's repository has golden answers once they are recorded
        verify_gateway(state.gateway_url or "", golden)
        _tune_try_timeouts(p, state, golden)
    if p.spec.backup and p.spec.backup.every:
        _start_backup_scheduler(p, state)
    return state


def stop_all(root: Path, state: LocalState) -> list[str]:
    """End every recorded process group (last started first); clean what nodes leave behind."""
    procs = state.processes()[::-1]
    supervise.terminate(procs)
    for record in state.nodes:
        clean_node_leftovers(root, record)
    return [p.name for p in procs]


def restart_nodes(p: LocalPlatform, state: LocalState, names: list[str]) -> None:
    """Replace nodes' processes with fresh ones on the same ports, all at once; wait until they serve."""
    old = [state.node(name) for name in names]
    supervise.terminate([r.process for r in old])
    fresh = []
    for record in old:
        clean_node_leftovers(p.root, record)
        ports = (record.http_port, record.grpc_port, record.metrics_port)
        new = spawn_node(p, record.name, record.region, region_repo(p, record.region), ports, record.version)
        new.proxy_port = record.proxy_port
        state.nodes[state.nodes.index(record)] = new
        fresh.append(new)
    save_state(p.state_path, state)
    deadline = time.monotonic() + p.start_timeout_s
    for new in fresh:
        wait_for(lambda n=new: node_ready(n, state.models), [n.process for n in fresh], deadline, f"node {new.name}")


def clean_node_leftovers(root: Path, record: NodeRecord) -> None:
    """Remove the shared-memory files and workspace a killed Triton node cannot remove itself.

    The workspace is derived from the state folder and the node's name, never read from the
    state file: a forged path there would otherwise be deleted, whatever it names.
    """
    for path in [*triton_node.shm_leftovers(record.process.pid), *workload_node.shm_leftovers(record.name)]:
        path.unlink(missing_ok=True)
    workspace = workspace_of(root, record.name)
    if workspace.is_symlink():
        workspace.unlink()  # a link planted in its place: remove the link, never its target
    else:
        shutil.rmtree(workspace, ignore_errors=True)


def _fresh_root(root: Path) -> None:
    # Logs of the previous run are kept one generation, for the post-mortem of a failed up.
    private_dir(root)
    for stale in ("workspace", "prometheus", "regions", "loadgen", SCALED, "rules", "alertmanager", "alerting"):
        shutil.rmtree(root / stale, ignore_errors=True)
    if (root / "logs").exists():
        shutil.rmtree(root / "logs.previous", ignore_errors=True)
        (root / "logs").rename(root / "logs.previous")


def region_repo(p: LocalPlatform, region: str) -> Path:
    return p.root / "regions" / region / "models"


def _start_backup_scheduler(p: LocalPlatform, state: LocalState) -> None:
    config = schedule_config(p.spec, state_root=p.root, repository=region_repo(p, source_of(p.spec).region),
                             state_file=p.state_path)  # fmt: skip
    (p.root / "backup-schedule.json").write_text(config.model_dump_json(indent=1))
    command = [p.python, "-m", "drillkit.backup.scheduler", "--config", str(p.root / "backup-schedule.json")]
    # The one child that needs the store's credentials: it uploads the backups.
    keep = [name for name in os.environ if name.startswith(S3_CREDENTIALS)]
    state.backup = supervise.spawn("backup", command, log_path=p.root / "logs" / "backup.log", keep=keep)
    save_state(p.state_path, state)


@contextmanager
def verification_node(p: LocalPlatform, region: str, repository: Path) -> Iterator[str]:
    """A throwaway node serving ``repository`` on free ports, recorded so `down` ends it too."""
    name = f"{region}-verify"
    with exclusive(p.root / "lock", p.name):
        state = _loaded(p)
        record = spawn_node(p, name, region, repository, _node_ports())
        state.verifiers[name] = record.process
        save_state(p.state_path, state)
    try:
        wait_for(lambda: node_ready(record, state.models), [record.process], time.monotonic() + p.start_timeout_s,
              f"verification node {name}")  # fmt: skip
        yield f"http://127.0.0.1:{record.http_port}"
    finally:
        supervise.kill(record.process)  # throwaway and outside the gateway: no requests to drain
        clean_node_leftovers(p.root, record)
        with exclusive(p.root / "lock", p.name):
            state = _loaded(p)
            state.verifiers.pop(name, None)
            save_state(p.state_path, state)


def _loaded(p: LocalPlatform) -> LocalState:
    state = load_state(p.state_path)
    if state is None:
        raise NotUpError(f"environment {p.name!r} is not up: run `drillkit up` first")
    return state


def _node_ports() -> tuple[int, int, int]:
    return free_port(), free_port(), free_port()


def spawn_node(p: LocalPlatform, name: str, region: str, repo: Path, ports: tuple[int, int, int],
                version: str | None = None) -> NodeRecord:  # fmt: skip
    """Start node ``name`` on ``ports``, serving ``version`` (None: the environment's model version)."""
    http, grpc, metrics = ports
    model = p.spec.model
    serves = version or model.version
    workspace = workspace_of(p.root, name)
    env = triton_node.node_environment(os.environ)
    if not p.spec.workload.is_builtin:
        plan = workload_node.NodePlan(repository=repo, version=serves, node=name, http_port=http, grpc_port=grpc,
                                      metrics_port=metrics, workspace=workspace)  # fmt: skip
        wrapper, server, env = workload_node.command(plan, env, p.python)
        process = supervise.spawn(f"node {name}", server, log_path=p.root / "logs" / f"{name}.log", env=env, via=wrapper)
        return NodeRecord(name=name, region=region, http_port=http, grpc_port=grpc, metrics_port=metrics, process=process,
                          version=version)  # fmt: skip
    command = triton_node.node_command(
        p.python,
        repository=repo,
        version=serves,
        region=region,
        node=name,
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        device=model.device,
        max_batch_size=model.max_batch_size,
        max_queue_delay_us=model.max_queue_delay_us,
        workspace=workspace,
    )
    process = supervise.spawn(f"node {name}", command, log_path=p.root / "logs" / f"{name}.log", env=env)
    return NodeRecord(name=name, region=region, http_port=http, grpc_port=grpc, metrics_port=metrics, process=process,
                      version=version)  # fmt: skip


def _start_netfault(p: LocalPlatform, state: LocalState) -> None:
    routes = [
        netfault.RouteConfig(name=n.name, listen_port=0, upstream_host="127.0.0.1", upstream_port=n.http_port)
        for n in state.nodes
    ]
    config, ready_file = p.root / "netfault.json", p.root / "netfault.ready.json"
    netfault.write_config(config, routes)
    ready_file.unlink(missing_ok=True)
    command = [p.python, "-m", "drillkit.netfault", "--config", str(config), "--control-port", "0",
               "--ready-file", str(ready_file), "--token-file", str(p.root / netfault.TOKEN_FILE)]  # fmt: skip
    state.netfault = supervise.spawn("netfault", command, log_path=p.root / "logs" / "netfault.log")
    save_state(p.state_path, state)
    wait_for(ready_file.exists, [state.netfault], time.monotonic() + 15, "fault proxy")
    ready = netfault.read_ready_file(ready_file)
    state.netfault_port = ready.control_port
    for record in state.nodes:
        record.proxy_port = ready.routes[record.name]
    save_state(p.state_path, state)


def _start_haproxy(p: LocalPlatform, state: LocalState, binary: str, golden: GoldenSet | None,
                   ports: tuple[int, int] | None = None) -> None:  # fmt: skip
    """Start the gateway; ``ports`` (gateway, stats): a restart's, kept for clients and Prometheus."""
    spec = p.spec.gateway
    port = spec.port if spec.port is not None and port_is_free(spec.port) else free_port()
    stats_port = free_port()
    if ports is not None:
        port, stats_port = ports
    standby = {r.name for r in p.spec.standbys}
    nodes = {n.name for n in state.nodes}
    backends = tuple(
        gateway.Backend(n.name, n.region, n.proxy_port or 0, backup=n.region in standby, version=state.version_of(n))
        for n in state.nodes
    ) + tuple(
        gateway.Backend(slot, r.name, 1, backup=r.name in standby, slot=True)
        for r in p.spec.regions for slot in r.slot_names() if slot not in nodes
    )  # fmt: skip
    plan = gateway.GatewayPlan(
        bind_port=port,
        stats_port=stats_port,
        socket=p.root / "haproxy.sock",
        region_map=p.root / "regions.map",
        spec=spec,
        backends=backends,
        try_map=p.root / TRY_MAP,
        script=p.root / "gateway.lua",
        version_map=p.root / VERSION_MAP,
        served=gateway.Served.of(state.models, golden),
    )
    gateway.write_config(plan, p.root / "haproxy.cfg")
    command = [binary, "-db", "-f", str(p.root / "haproxy.cfg")]
    state.haproxy = supervise.spawn("gateway", command, log_path=p.root / "logs" / "haproxy.log")
    state.gateway_port, state.stats_port, state.haproxy_socket = port, plan.stats_port, plan.socket
    save_state(p.state_path, state)


def adopt_golden(p: LocalPlatform, state: LocalState, binary: str, golden: GoldenSet) -> list[Path]:
    """Newly recorded golden answers: into each region's copy of the version; for the version the
    environment serves, the gateway restarted on its ports with them as its deep check, verified,
    and its try timeouts re-tuned (a release's answers, recorded mid-rollout, change nothing live)."""
    written = []
    for region in p.spec.regions:
        version_dir = region_repo(p, region.name) / golden.version
        if version_dir.is_dir() and repository.verify(version_dir).sha256 == golden.manifest_sha256:
            written.append(write_golden(version_dir, golden))
    if golden.version != state.model_version:
        return written
    if state.haproxy is not None:
        supervise.terminate([state.haproxy])
    if state.haproxy_socket is not None:
        state.haproxy_socket.unlink(missing_ok=True)  # a readiness wait must not ask the old one
    _start_haproxy(p, state, binary, golden, ports=(state.gateway_port or free_port(), state.stats_port or free_port()))
    api = gateway.RuntimeApi(state.haproxy_socket or Path())
    procs = state.processes()
    wait_for(lambda: _all_servers_up(api, state), procs, time.monotonic() + p.start_timeout_s, "gateway (all servers UP)")
    verify_gateway(state.gateway_url or "", golden)
    _tune_try_timeouts(p, state, golden)
    return written


def _tune_try_timeouts(p: LocalPlatform, state: LocalState, golden: GoldenSet) -> None:
    """Measure each model on a busy primary node, then set the gateway's per-try timeouts live (and
    in the map file, so the gateway's own restart keeps them)."""
    first = state.nodes[0] if state.nodes else None
    primary = next((n for n in state.nodes if n.region == p.spec.primary.name), first)
    if primary is None:
        return
    tuned = try_timeout.calibrate(f"http://127.0.0.1:{primary.http_port}", golden, p.spec.gateway, node=primary.name)
    api = gateway.RuntimeApi(state.haproxy_socket or Path())
    for model, ms in tuned.models.items():
        api.set_try_timeout(p.root / TRY_MAP, model, ms)
    (p.root / TRY_MAP).write_text(gateway.render_try_map(tuned.models))
    state.try_timeouts = tuned
    save_state(p.state_path, state)


def _start_prometheus(p: LocalPlatform, state: LocalState, binary: str) -> None:
    loadgen = p.root / "loadgen"
    loadgen.mkdir(exist_ok=True)
    (p.root / SCALED).mkdir(exist_ok=True)  # watched from the start: a node scaling out adds is seen at once
    plan = observe.ScrapePlan(
        interval_s=p.spec.prometheus.scrape_interval_s,
        nodes=tuple(observe.NodeTarget(n.name, n.region, n.metrics_port, role_of(p, n.region)) for n in state.nodes),
        gateway_stats_port=state.stats_port or 0,
        loadgen_dir=loadgen,
        scaled_dir=p.root / SCALED,
        rule_files=_rules_snapshot(p) if p.spec.alerting_embedded else (),
        alertmanager_port=state.alertmanager_port,
        evaluation_interval_s=p.spec.alerting.evaluation_interval_s if p.spec.alerting is not None else None,
    )
    (p.root / "prometheus.yml").write_text(observe.render_config(plan))
    port = free_port()
    command = observe.prometheus_command(
        binary, config=p.root / "prometheus.yml", data_dir=p.root / "prometheus", port=port,
        retention=p.spec.prometheus.retention,
    )  # fmt: skip
    state.prometheus = supervise.spawn("prometheus", command, log_path=p.root / "logs" / "prometheus.log")
    state.prometheus_port = port
    save_state(p.state_path, state)


def role_of(p: LocalPlatform, region: str) -> str:
    """A region's role (primary or standby), as its nodes are labelled for alert rules."""
    return next((r.role.value for r in p.spec.regions if r.name == region), "")


def _rules_snapshot(p: LocalPlatform) -> tuple[Path, ...]:
    """The rule files, checked by promtool and copied into the state folder: Prometheus loads
    what was checked, whatever happens to the originals while the environment runs."""
    assert p.spec.alerting is not None
    files = alert_rules.rule_files(p.spec.alerting)
    alert_rules.check_rules(files)
    folder = p.root / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for i, path in enumerate(files):
        copy = folder / f"{i:02d}-{path.name}"
        shutil.copyfile(path, copy)
        copies.append(copy.resolve())
    return tuple(copies)


def _start_alerting(p: LocalPlatform, state: LocalState, binary: str) -> None:
    """drillkit's webhook receiver, then the Alertmanager that routes every alert to it."""
    assert p.spec.alerting is not None
    listen = p.spec.alerting.receiver.listen
    host, port = parse_listen(listen) if listen else ("127.0.0.1", free_port())
    command = [sys.executable, "-m", "drillkit.alerting.receiver", "--listen", f"{host}:{port}", "--out", str(notifications_file(p.root))]
    state.receiver = supervise.spawn("receiver", command, log_path=p.root / "logs" / "receiver.log")
    state.receiver_port = port
    save_state(p.state_path, state)
    am_port = free_port()
    config = p.root / "alertmanager.yml"
    config.write_text(alertmanager.render_config(f"http://{host}:{port}{receiver.PATH}", p.spec.alerting.alertmanager))
    command = alertmanager.alertmanager_command(binary, config=config, data_dir=p.root / "alertmanager", port=am_port)
    state.alertmanager = supervise.spawn("alertmanager", command, log_path=p.root / "logs" / "alertmanager.log")
    state.alertmanager_port = am_port
    save_state(p.state_path, state)


def notifications_file(root: Path) -> Path:
    """Where the embedded receiver records every notification (kept across drills, until `down`)."""
    return root / "alerting" / "notifications.jsonl"


def _wait_ready(p: LocalPlatform, state: LocalState, deadline: float) -> None:
    procs = state.processes()
    for record in state.nodes:
        wait_for(lambda r=record: node_ready(r, state.models), procs, deadline, f"node {record.name}")
    api = gateway.RuntimeApi(state.haproxy_socket or Path())
    wait_for(lambda: _all_servers_up(api, state), procs, deadline, "gateway (all servers UP)")
    ready = {"prometheus": (state.prometheus_port, "/-/ready"), "alertmanager": (state.alertmanager_port, "/-/ready"),
             "receiver": (state.receiver_port, "/healthz")}  # fmt: skip
    for name, (port, path) in ready.items():
        if port:
            url = f"http://127.0.0.1:{port}{path}"
            wait_for(lambda u=url: http_status(u) == 200, procs, deadline, name)


def node_ready(record: NodeRecord, models: tuple[str, ...]) -> bool:
    base = f"http://127.0.0.1:{record.http_port}/v2/models"
    return all(http_status(f"{base}/{m}/ready") == 200 for m in models)


def _all_servers_up(api: gateway.RuntimeApi, state: LocalState) -> bool:
    """Every node's server is UP (the empty scale-out slots stay in maintenance)."""
    if not api.socket_path.exists():
        return False
    status = {s.name: s.status for s in api.servers()}
    return all(status.get(n.name) is gateway.ServerStatus.UP for n in state.nodes)


def wait_for(ready: Callable[[], bool], procs: list[supervise.Process], deadline: float, what: str) -> None:
    """Poll ``ready()`` until true; fail at once with its log when a watched process dies."""
    while True:
        for proc in procs:
            if not supervise.alive(proc):
                tail = supervise.log_tail(proc.log)
                raise StartupError(f"{proc.name} exited during start-up; last lines of {proc.log}:\n{tail}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise StartupError(f"{what} not ready in time; see the logs under {procs[0].log.parent}")
        time.sleep(0.1)
