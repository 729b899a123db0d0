"""Waiting until nodes serve and keep serving: a node that answers once may still be dying."""

from __future__ import annotations

import time
from collections.abc import Callable

from drillkit.platforms.base import Health, Platform


def not_settled(platform: Platform, nodes: list[str], *, settle_s: float = 2.0, deadline_s: float = 15.0,
                poll_s: float = 0.2, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> list[str]:  # fmt: skip
    """The nodes that were not ready for ``settle_s`` without a break within ``deadline_s``.

    A dead node (its process is gone) does not come back by itself: it is given up at once.
    """
    ready_since: dict[str, float | None] = dict.fromkeys(nodes)
    dead: list[str] = []
    started = clock()
    while True:
        now = clock()
        health = {c.name: c.health for c in platform.status().nodes()}
        for node in [n for n in nodes if n not in dead]:
            if health.get(node) is Health.DEAD:
                dead.append(node)
            ready = health.get(node) is Health.READY
            ready_since[node] = (ready_since[node] if ready_since[node] is not None else now) if ready else None
        unsettled = [n for n, since in ready_since.items() if n not in dead and (since is None or now - since < settle_s)]
        if not unsettled or now - started >= deadline_s:
            return [n for n in nodes if n in dead or n in unsettled]
        sleep(poll_s)
