"""The undo functions that faults record, and the replay of pending undos.

An undo is named in the log, never pickled: ``drillkit recover`` in a new process finds
the function here by name and calls it with the recorded arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit import supervise
from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Platform


def _clear_network(platform: Platform, nodes: list[str]) -> None:
    for node in nodes:
        platform.set_network_fault(node, Fault())


def _restart_nodes(platform: Platform, nodes: list[str]) -> None:
    platform.restart_nodes(nodes)


def _resume_nodes(platform: Platform, nodes: list[str]) -> str | None:
    notes = [note for note in (platform.resume_node(node) for node in nodes) if note]
    return "; ".join(notes) or None


def _stop_hog(platform: Platform, handle: str) -> None:
    platform.stop_hog(handle)


def _restore_repository(platform: Platform, region: str) -> None:
    # Idempotent: a drill's method usually restores already; only a broken region is restored.
    from drillkit.backup import store_for
    from drillkit.backup.restore import region_serves, restore_region

    if not region_serves(platform, region):
        restore_region(platform, store_for(platform.spec, platform.root), region, fallback=True)


def _restore_versions(platform: Platform, version: str, nodes: list[str]) -> str | None:
    # Idempotent: a rollout that rolled itself back leaves nothing to do; a node moved (or one a
    # crash left half moved) goes back to ``version``, verified by its golden answers.
    serving = {n.name: n.version for n in platform.status().nodes()}
    moved = [node for node in nodes if serving.get(node) != version]
    for node in moved:
        platform.set_node_version(node, version)
    return f"moved back to {version}: {', '.join(moved)}" if moved else None


def _stop_surge(platform: Platform, process: dict[str, Any]) -> str | None:
    # A surge's load: the same checks as a drill's own load generator, and a fault's undo (a
    # rollback ends it; the drill's own load goes on until the drill stops it).
    return _stop_process(platform, process)


def _scale_region(platform: Platform, region: str, nodes: int) -> str | None:
    # Idempotent: back to the nodes the region had before it was scaled out (drained first).
    now = len(platform.node_names(region))
    if now == nodes:
        return None
    platform.scale_region(region, nodes)
    return f"{region}: {now} -> {nodes} nodes"


def _stop_process(platform: Platform, process: dict[str, Any]) -> str | None:
    # A drill's own helper (its load generator) left behind by a killed runner. The record
    # comes from a file on disk, so it is acted on only when the process it names is that
    # very process: same start ticks, same command line, and the token drillkit put in its
    # environment when it started it (a forged record cannot name a process without one).
    proc = supervise.Process.model_validate(process)
    if not _is_load_generator(proc.command):
        raise ValueError(f"refusing to stop pid {proc.pid}: {proc.command[:3]} is not a drillkit load generator")
    if not supervise.started_by_drillkit(proc):
        return f"{proc.name} (pid {proc.pid}) is not running as recorded (gone, or the pid is another program's): left alone"
    supervise.terminate([proc], grace_s=5)
    return None


def _is_load_generator(command: tuple[str, ...]) -> bool:
    """The command ``drillkit.load.Load`` starts: ``<python> -m locust -f <locustfile> ...``."""
    return command[1:4] == ("-m", "locust", "-f")


# Each returns None, or a note on what it had to do beyond the plain undo (kept in the journal).
UNDOS: dict[str, Callable[..., str | None]] = {
    "clear_network": _clear_network,
    "restart_nodes": _restart_nodes,
    "resume_nodes": _resume_nodes,
    "stop_hog": _stop_hog,
    "stop_process": _stop_process,
    "restore_repository": _restore_repository,
    "restore_versions": _restore_versions,
    "stop_surge": _stop_surge,
    "scale_region": _scale_region,
}


# Undos that end a drill's own helpers (its load generator), not faults: a rollback inside a
# running drill must leave them alone; `drillkit recover` after a dead runner ends them.
HELPERS = frozenset({"stop_process"})


def undo_pending(platform: Platform, *, faults_only: bool = True) -> list[dict[str, Any]]:
    """Carry out pending undos, newest first (helpers too unless ``faults_only``); return them."""
    log = platform.undo_log()
    done = []
    for entry in log.pending():
        if faults_only and entry.undo in HELPERS:
            continue
        try:
            note = UNDOS[entry.undo](platform, **entry.args)
            log.done(entry.id)
            done.append({"fault": entry.fault, "undo": entry.undo, "args": entry.args, "error": None, "note": note})
        except Exception as exc:  # keep undoing the rest; the failure is recorded and reported
            log.done(entry.id, error=f"{type(exc).__name__}: {exc}")
            done.append({"fault": entry.fault, "undo": entry.undo, "args": entry.args, "error": str(exc), "note": None})
    return done
