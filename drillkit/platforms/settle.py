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
    ready_since: dict[str, float] = {}  # nodes ready at every poll since then
    dead: set[str] = set()
    started = clock()
    while True:
        now = clock()
        health = {c.name: c.health for c in platform.status().nodes()}
        dead |= {n for n in nodes if health.get(n) is Health.DEAD}
        for node in nodes:
            if health.get(node) is Health.READY:
                ready_since.setdefault(node, now)
            else:
                ready_since.pop(node, None)
        unsettled = [n for n in nodes if n in dead or n not in ready_since or now - ready_since[n] < settle_s]
        if set(unsettled) <= dead or now - started >= deadline_s:
            return unsettled
        sleep(poll_s)
