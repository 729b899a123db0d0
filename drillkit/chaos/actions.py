"""Chaos Toolkit actions: node, network and GPU faults, and their rollbacks.

Each fault writes its undo to the environment's undo log *before* it acts, so a crash at any
point leaves nothing that ``rollback_all`` or ``drillkit recover`` cannot undo, and returns a
:class:`drillkit.events.FaultOutput`: the nodes it hit, the time it finished injecting
(``injected_at``: the drill's fault_start, free of the pauses Chaos Toolkit adds around
activities) and the layer. ``target`` is a region (every node in it) or one node.

    {"type": "action", "name": "cut-primary",
     "provider": {"type": "python", "module": "drillkit.chaos.actions", "func": "partition",
                  "arguments": {"target": "primary"}}}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drillkit.backup import damage
from drillkit.chaos.context import (
    REQUEST_LOG_KEY,
    SPEED_KEY,
    TRACE_KEY,
    Configuration,
    environment_file,
    platform_for,
    targets,
)
from drillkit.chaos.undo import undo_pending
from drillkit.errors import SpecError
from drillkit.events import FaultOutput
from drillkit.model import repository
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Capability, Platform

__all__ = [
    "crash_node", "hang_node", "restart_node", "region_outage",
    "add_latency", "reset_connections", "partition", "limit_bandwidth", "clear_network",
    "gpu_device_lost", "gpu_ecc_error", "gpu_memory_pressure", "gpu_compute_pressure",
    "destroy_model_repository", "corrupt_model_repository", "restore_model_repository",
    "rollout_version", "surge", "scale_out", "measure_capacity", "rollback_all",
]  # fmt: skip

# The actions that do harm: each returns a FaultOutput (a test runs every one of them).
FAULTS = (
    "crash_node", "hang_node", "region_outage", "add_latency", "reset_connections", "partition", "limit_bandwidth",
    "gpu_device_lost", "gpu_ecc_error", "gpu_memory_pressure", "gpu_compute_pressure",
    "destroy_model_repository", "corrupt_model_repository",
)  # fmt: skip

# What each fault needs from its platform: checked when a drill is planned, before anything runs.
NEEDS: dict[str, Capability] = {
    "add_latency": Capability.NETWORK_LATENCY,
    "limit_bandwidth": Capability.NETWORK_BANDWIDTH,
    "reset_connections": Capability.NETWORK_RESETS,
    "partition": Capability.PARTITION,
    "destroy_model_repository": Capability.REPOSITORY,
    "corrupt_model_repository": Capability.REPOSITORY,
    "restore_model_repository": Capability.REPOSITORY,
    "gpu_device_lost": Capability.NODE_GPU_FAULT,
    "gpu_ecc_error": Capability.NODE_GPU_FAULT,
}


def crash_node(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Crash nodes at once (SIGKILL locally; pod deletion on Kubernetes). Undo: restart them."""
    return _node_fault(configuration, target, "crash_node", "restart_nodes", lambda p, n: p.kill_node(n))


def region_outage(region: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Take every node of a region down until the rollback (SIGKILL locally; scaled to zero on
    Kubernetes, where deleted pods would come back by themselves). Undo: restart them."""
    platform = platform_for(configuration)
    if not platform.node_names(region):
        raise SpecError("experiment", "region_outage.region", f"no region {region!r}",
                        f"use one of: {', '.join(r.name for r in platform.spec.regions)}")  # fmt: skip
    nodes = _record(platform, "region_outage", "restart_nodes", region)
    platform.stop_region(region)
    return _output("region_outage", nodes, "node", region=region)


def hang_node(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Freeze nodes (SIGSTOP): connections stay open, nothing answers. Undo: resume them."""
    return _node_fault(configuration, target, "hang_node", "resume_nodes", lambda p, n: p.pause_node(n))


def restart_node(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Restart nodes and wait until each serves again (a rollback, or a fault in itself)."""
    platform = platform_for(configuration)
    nodes = targets(platform, target)
    platform.restart_nodes(nodes)
    return {"restarted": nodes}


def add_latency(target: str, latency_ms: float, jitter_ms: float = 0.0, *, configuration: Configuration = None) -> dict[str, Any]:
    """Add latency (± uniform jitter) on the network path to the target's nodes."""
    return _network(configuration, target, "add_latency", Fault(latency_ms=latency_ms, jitter_ms=jitter_ms))


def reset_connections(target: str, ratio: float, *, configuration: Configuration = None) -> dict[str, Any]:
    """Reset (RST) connections to the target's nodes with probability ``ratio``."""
    return _network(configuration, target, "reset_connections", Fault(reset_ratio=ratio))


def partition(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Blackhole the target's nodes: packets vanish, connections hang (a network partition)."""
    return _network(configuration, target, "partition", Fault(blackhole=True))


def limit_bandwidth(target: str, kbps: float, *, configuration: Configuration = None) -> dict[str, Any]:
    """Cap the bandwidth of the network path to the target's nodes."""
    return _network(configuration, target, "limit_bandwidth", Fault(bandwidth_kbps=kbps))


def clear_network(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Clear every network fault on the target's nodes."""
    platform = platform_for(configuration)
    nodes = targets(platform, target)
    for node in nodes:
        platform.set_network_fault(node, Fault())
    return {"cleared": nodes}


def gpu_device_lost(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Xid 79 (GPU fallen off the bus): inference fails and readiness drops until restart."""
    return _gpu(configuration, target, "gpu_device_lost", 79)


def gpu_ecc_error(target: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """Xid 48 (double-bit ECC): inference fails until restart, but readiness stays green."""
    return _gpu(configuration, target, "gpu_ecc_error", 48)


def gpu_memory_pressure(target: str, level: float = 0.5, duration_s: float = 120.0,
                        *, configuration: Configuration = None) -> dict[str, Any]:  # fmt: skip
    """Hold ``level`` of the device's free memory in a real hog process. Undo: stop it."""
    return _hog(configuration, target, "memory", level, duration_s)


def gpu_compute_pressure(target: str, level: float = 1.0, duration_s: float = 120.0,
                         *, configuration: Configuration = None) -> dict[str, Any]:  # fmt: skip
    """Keep the device busy with a real matmul hog (``level``: share of threads). Undo: stop it."""
    return _hog(configuration, target, "compute", level, duration_s)


def destroy_model_repository(region: str, restart: bool = True, *, configuration: Configuration = None) -> dict[str, Any]:
    """Data loss: delete the region's model repository (every version); restarted nodes refuse to serve.

    Undo: restore from the newest backup that verifies (nothing when already restored).
    """
    platform = platform_for(configuration)
    nodes = _record_data_fault(platform, "destroy_model_repository", region)
    injected_at = time.time()
    versions = damage.destroy_repository(platform.region_repository(region))
    return _data_fault(platform, "destroy_model_repository", region, nodes, versions, injected_at, restart)


def corrupt_model_repository(region: str, version: str | None = None, flips: int = 64, restart: bool = True,
                             *, configuration: Configuration = None) -> dict[str, Any]:  # fmt: skip
    """Silent corruption: flip bytes in the weights of ``version`` (default: the served one).

    Restarted nodes refuse the version (its manifest check fails). Undo: restore from a backup.
    """
    platform = platform_for(configuration)
    nodes = _record_data_fault(platform, "corrupt_model_repository", region)
    root = platform.region_repository(region)
    versions = repository.versions(root)
    injected_at = time.time()
    corrupted = damage.corrupt_weights(root / (version or platform.spec.model.version), flips=flips)
    return _data_fault(platform, "corrupt_model_repository", region, nodes, versions, injected_at, restart,
                       corrupted=corrupted)  # fmt: skip


def restore_model_repository(region: str, backup: str | None = None, fallback: bool = True,
                             *, configuration: Configuration = None) -> dict[str, Any]:  # fmt: skip
    """Restore the region's repository from a backup (default: the newest), verified on Triton before it serves.

    With ``fallback`` a refused backup (corrupted, incomplete) is skipped for the next older one;
    the output has the backup used, the restore time and every refusal (``restored: false`` when none restored).
    """
    from drillkit.backup import store_for
    from drillkit.backup.errors import RestoreFailed
    from drillkit.backup.restore import restore_region

    platform = platform_for(configuration)
    try:
        report = restore_region(platform, store_for(platform.spec, platform.root), region, backup_id=backup, fallback=fallback)
    except RestoreFailed as exc:
        refused = [{"backup_id": r.backup_id, "object": r.object, "reason": r.reason} for r in exc.refusals]
        return {"region": region, "restored": False, "error": str(exc), "refused": refused}
    return {"restored": True, **report.as_dict()}


def rollout_version(version: str, shuffle_permille: int = 0, slowdown: int = 1,
                    *, configuration: Configuration = None) -> dict[str, Any]:  # fmt: skip
    """A release: ``version`` rolled out node by node, canary first, rolled back when it breaks the rollout policy.

    ``shuffle_permille`` / ``slowdown`` build ``version`` first from the environment's own
    model (a release with stale embeddings, or a slower one). The canary is compared on the
    drill's trace. Undo: every node back on the version it served before.
    """
    from drillkit.rollout.action import roll_out

    output = roll_out(platform_for(configuration), version, environment=str(environment_file(configuration)),
                      trace=(configuration or {}).get(TRACE_KEY), variant={"shuffled_permille": shuffle_permille, "work": slowdown})  # fmt: skip
    return _output("rollout_version", output.targets, "model", region=output.region, injected_at=output.first_served_at,
                   rollout=output.report)  # fmt: skip


def surge(factor: float = 3.0, duration_s: float = 30.0, *, configuration: Configuration = None) -> dict[str, Any]:
    """A surge: ``factor`` times the drill's traffic for ``duration_s`` (a second open-loop load on its trace).

    The surge's requests are the drill's own (the same request log). Undo: end it, if still running.
    """
    from drillkit.surge import start_surge

    if not 1.0 < factor <= 20.0 or not 0.0 < duration_s <= 3600.0:
        raise SpecError("experiment", "surge", f"factor {factor} or duration_s {duration_s} out of range",
                        "use 1 < factor <= 20 and 0 < duration_s <= 3600")  # fmt: skip
    platform, config = platform_for(configuration), configuration or {}
    run_dir = Path(str(config.get(REQUEST_LOG_KEY, "reports/surge/request_log"))).parent
    trace, speed = config.get(TRACE_KEY), float(config.get(SPEED_KEY, 1.0))
    if trace is None:
        raise SpecError("experiment", "surge", "no trace to surge with", "run the experiment from a drill (`drillkit run`)")
    started = start_surge(platform, run_dir, Path(str(trace)), speed=speed, factor=factor, duration_s=duration_s)
    # Recorded once it runs: its Locust run is capped at duration_s, so one left by a crash ends by itself.
    platform.undo_log().record("surge", "stop_surge", {"process": started.process.model_dump(mode="json")})
    serving = targets(platform, platform.spec.primary.name)
    return _output("surge", serving, "load", region=platform.spec.primary.name, injected_at=started.started_at,
                   factor=factor, duration_s=duration_s, added_rps=round(started.rate_rps, 1))  # fmt: skip


def scale_out(region: str, nodes: int, *, configuration: Configuration = None) -> dict[str, Any]:
    """Scale a region to ``nodes`` nodes, live (up to its max_nodes). Undo: back to the nodes it had."""
    platform = platform_for(configuration)
    before = len(platform.node_names(region))
    platform.undo_log().record("scale_out", "scale_region", {"region": region, "nodes": before})
    result = platform.scale_region(region, nodes)
    return {"region": region, "from_nodes": result.from_nodes, "to_nodes": result.to_nodes, "nodes": result.nodes,
            "requested_at": result.requested_at, "serving_at": result.serving_at, "time_to_scale_s": result.time_to_scale_s}  # fmt: skip


def measure_capacity(region: str, start_rps: float = 20.0, growth: float = 1.25, max_rps: float = 400.0, step_s: float = 4.0,
                     max_lag_ms: float = 10.0, *, configuration: Configuration = None) -> dict[str, Any]:  # fmt: skip
    """A region's capacity: the drill's requests at a rising rate to that region only, step by step, to find its knee.

    Rates from ``start_rps``, times ``growth`` each ``step_s``, up to ``max_rps`` (the journal's
    ``capacity_curve`` judges each step; a step the generator fell behind on never counts).
    """
    from drillkit.knee import rates
    from drillkit.ramp import run_ramp

    if not (0 < start_rps <= max_rps <= 100_000 and 1.01 <= growth <= 10 and 0.5 <= step_s <= 600 and 0 < max_lag_ms <= 10_000):
        raise SpecError("experiment", "measure_capacity", "a ramp argument is out of range",
                        "use 0 < start_rps <= max_rps <= 100000, 1.01 <= growth <= 10, 0.5 <= step_s <= 600")  # fmt: skip
    platform, config = platform_for(configuration), configuration or {}
    if region not in [r.name for r in platform.spec.regions]:
        raise SpecError("experiment", "measure_capacity.region", f"no region {region!r}",
                        f"use one of: {', '.join(r.name for r in platform.spec.regions)}")  # fmt: skip
    trace = config.get(TRACE_KEY)
    if trace is None:
        raise SpecError("experiment", "measure_capacity", "no trace to ramp", "run the experiment from a drill (`drillkit run`)")
    run_dir = Path(str(config.get(REQUEST_LOG_KEY, "reports/capacity/request_log"))).parent
    steps = rates(start_rps, growth, max_rps)
    started = time.time()
    log = run_ramp(platform, run_dir, Path(str(trace)), region, steps, step_s)
    return {"region": region, "rates": steps, "step_s": step_s, "max_lag_ms": max_lag_ms, "log": str(log.relative_to(run_dir)),
            "nodes": len(platform.node_names(region)), "started_at": started, "ended_at": time.time()}  # fmt: skip


def rollback_all(*, configuration: Configuration = None) -> dict[str, Any]:
    """Undo every pending fault of the environment, newest first (use in ``rollbacks``)."""
    undone = undo_pending(platform_for(configuration))
    failed = [u for u in undone if u["error"]]
    if failed:
        raise RuntimeError(f"{len(failed)} undo(s) failed: {failed}")
    return {"undone": undone}


def _record(platform: Platform, fault: str, undo: str, target: str, **extra: Any) -> list[str]:
    nodes = targets(platform, target)
    platform.undo_log().record(fault, undo, {"nodes": nodes, **extra})
    return nodes


def _record_data_fault(platform: Platform, fault: str, region: str) -> list[str]:
    nodes = targets(platform, region)
    platform.undo_log().record(fault, "restore_repository", {"region": region})
    return nodes


def _output(fault: str, nodes: list[str], layer: str, *, region: str | None = None, injected_at: float | None = None,
            **detail: Any) -> dict[str, Any]:  # fmt: skip
    """The fault's Chaos Toolkit output: a FaultOutput as JSON (validated here, so a fault
    that hit no node fails where it happened, not later in the measurements)."""
    at = time.time() if injected_at is None else injected_at
    output = FaultOutput(fault=fault, targets=nodes, injected_at=at, layer=layer, region=region, detail=detail)
    return output.model_dump(mode="json")


def _data_fault(platform: Platform, fault: str, region: str, nodes: list[str], versions: list[str], injected_at: float,
                restart: bool, **detail: Any) -> dict[str, Any]:  # fmt: skip
    refused = damage.restart_refusing(platform, nodes) if restart else []
    return _output(fault, nodes, "repository", region=region, injected_at=injected_at, versions=versions,
                   refused_to_start=refused, **detail)  # fmt: skip


def _node_fault(configuration: Configuration, target: str, name: str, undo: str,
                act: Callable[[Platform, str], None]) -> dict[str, Any]:  # fmt: skip
    platform = platform_for(configuration)
    nodes = _record(platform, name, undo, target)
    for node in nodes:
        act(platform, node)
    return _output(name, nodes, "node")


def _network(configuration: Configuration, target: str, name: str, fault: Fault) -> dict[str, Any]:
    platform = platform_for(configuration)
    nodes = _record(platform, name, "clear_network", target)
    for node in nodes:
        platform.set_network_fault(node, fault)
    return _output(name, nodes, "network", network=fault.model_dump(mode="json"))


def _gpu(configuration: Configuration, target: str, name: str, xid: int) -> dict[str, Any]:
    platform = platform_for(configuration)
    nodes = _record(platform, name, "restart_nodes", target)
    for node in nodes:
        platform.inject_gpu_fault(node, xid)
    # Say which layer was faulted: a journal must not pass off a node-level simulation as
    # DCGM field injection or a kernel Xid.
    return _output(name, nodes, platform.gpu_fault_layer, xid=xid)


def _hog(configuration: Configuration, target: str, kind: str, level: float, duration_s: float) -> dict[str, Any]:
    platform = platform_for(configuration)
    handles, nodes = [], targets(platform, target)
    for node in nodes:
        entry = platform.undo_log().record(f"gpu_{kind}_pressure", "stop_hog", {"handle": f"hog-{kind}-{node}"})
        platform.start_hog(entry.args["handle"], node, kind, level, duration_s)
        handles.append(entry.args["handle"])
    return _output(f"gpu_{kind}_pressure", nodes, platform.hog_layer, hogs=handles, level=level, duration_s=duration_s)
