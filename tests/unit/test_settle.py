"""Settling: a node counts as back only when it stays ready (a resumed Triton can die half a
second after SIGCONT).

The platform here is a fake at the Platform seam: a script of node health over fake time.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drillkit.platforms.base import ComponentKind, ComponentStatus, EnvironmentStatus, Health
from drillkit.platforms.settle import not_settled


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedNodes:
    """Each node's health as a function of the time."""

    def __init__(self, clock: Callable[[], float], health: dict[str, Callable[[float], Health]]) -> None:
        self.clock, self.health = clock, health

    def status(self) -> EnvironmentStatus:
        rows = tuple(ComponentStatus(name=n, kind=ComponentKind.NODE, region="primary", health=h(self.clock()))
                     for n, h in self.health.items())  # fmt: skip
        return EnvironmentStatus(environment="t", platform="fake", up=True, components=rows)


def ready(_: float) -> Health:
    return Health.READY


def dies_after_half_a_second(t: float) -> Health:
    return Health.READY if t < 0.5 else Health.DEAD


def test_a_node_that_stays_ready_settles_after_the_settle_time() -> None:
    clock = Clock()
    nodes = ScriptedNodes(clock, {"p-0": ready, "p-1": lambda t: Health.STARTING if t < 1.0 else Health.READY})
    assert not_settled(nodes, ["p-0", "p-1"], clock=clock, sleep=clock.sleep) == []  # type: ignore[arg-type]
    assert 3.0 <= clock.now < 3.5  # p-1 ready from 1.0, then 2 s without a break


def test_a_node_that_is_not_ready_is_waited_for_until_the_deadline() -> None:
    clock = Clock()
    nodes = ScriptedNodes(clock, {"p-0": ready, "p-1": lambda t: Health.STARTING})
    assert not_settled(nodes, ["p-0", "p-1"], clock=clock, sleep=clock.sleep) == ["p-1"]  # type: ignore[arg-type]
    assert clock.now == pytest.approx(15.0, abs=0.3)


def test_a_dead_node_is_given_up_at_once_and_the_others_still_settle() -> None:
    clock = Clock()
    nodes = ScriptedNodes(clock, {"p-0": ready, "p-1": dies_after_half_a_second})
    assert not_settled(nodes, ["p-0", "p-1"], clock=clock, sleep=clock.sleep) == ["p-1"]  # type: ignore[arg-type]
    assert 2.0 <= clock.now < 2.5  # p-0's settle time, not the 15 s deadline
