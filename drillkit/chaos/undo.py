"""The undo functions that faults record, and the replay of pending undos.

An undo is named in the log, never pickled: ``drillkit recover`` in a new process finds
the function here by name and calls it with the recorded arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.netfault.faults import Fault
from drillkit.platforms.base import Platform


def _clear_network(platform: Platform, nodes: list[str]) -> None:
    for node in nodes:
        platform.set_network_fault(node, Fault())


def _restart_nodes(platform: Platform, nodes: list[str]) -> None:
    platform.restart_nodes(nodes)


def _resume_nodes(platform: Platform, nodes: list[str]) -> None:
    for node in nodes:
        platform.resume_node(node)


def _stop_hog(platform: Platform, handle: str) -> None:
    platform.stop_hog(handle)


UNDOS: dict[str, Callable[..., None]] = {
    "clear_network": _clear_network,
    "restart_nodes": _restart_nodes,
    "resume_nodes": _resume_nodes,
    "stop_hog": _stop_hog,
}


def undo_pending(platform: Platform) -> list[dict[str, Any]]:
    """Carry out every pending undo, newest first; return what was done (errors included)."""
    log = platform.undo_log()
    done = []
    for entry in log.pending():
        try:
            UNDOS[entry.undo](platform, **entry.args)
            log.done(entry.id)
            done.append({"fault": entry.fault, "undo": entry.undo, "args": entry.args, "error": None})
        except Exception as exc:  # keep undoing the rest; the failure is recorded and reported
            log.done(entry.id, error=f"{type(exc).__name__}: {exc}")
            done.append({"fault": entry.fault, "undo": entry.undo, "args": entry.args, "error": str(exc)})
    return done
