"""The autoscaler's decisions, the journal's ``scaling`` section and its checks.

The platform is a small in-process fake at the :class:`drillkit.platforms.base.Platform` seam:
it holds node counts and gateway states, and checks that each scale-out's undo was written
before the region grew. Time is the wall clock: a tick right after the p99 rose never scales
(``for_s`` is 0.3 s), one after sleeping 0.4 s does, and the cooldown is a minute.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from drillkit.autoscale import Autoscaler
from drillkit.events import Replicas, Scaled, ScaleRefused, read_events
from drillkit.platforms.base import ScaleResult
from drillkit.scaling import scaling_section
from drillkit.spec import load_drill, load_environment
from drillkit.spec.autoscale import AutoscaleSpec
from drillkit.spec.environment import EnvironmentSpec
from drillkit.undo import UndoLog
from drillkit.verdict import Verdict, scaling_checks

REPO = Path(__file__).resolve().parents[2]
FOR_S = 0.3


class FakePlatform:
    def __init__(self, spec: EnvironmentSpec, undo: Path) -> None:
        self.spec = spec
        self.nodes = {r.name: r.nodes for r in spec.regions}
        self.down: set[str] = set()  # regions whose nodes are DOWN at the gateway
        self.undo = UndoLog(undo)
        self.scaled: list[tuple[str, int]] = []

    def node_names(self, region: str) -> list[str]:
        return [f"{region}-{i}" for i in range(self.nodes[region])]

    def gateway_states(self) -> dict[str, str]:
        return {n: "DOWN" if r in self.down else "UP" for r in self.nodes for n in self.node_names(r)}

    def undo_log(self) -> UndoLog:
        return self.undo

    def scale_region(self, region: str, nodes: int) -> ScaleResult:
        [pending] = [e for e in self.undo.pending() if e.args == {"region": region, "nodes": self.nodes[region]}]
        assert pending.undo == "scale_region"  # recorded before the region grows: a crash now is undone by recover
        before, self.nodes[region] = self.nodes[region], nodes
        self.scaled.append((region, nodes))
        now = time.time()
        return ScaleResult(region, before, nodes, [f"{region}-{i}" for i in range(before, nodes)], now, now + 1, now + 2)

    def live_nodes(self, region: str) -> tuple[int, int]:
        return self.nodes[region], self.nodes[region] - (region in self.down)


@pytest.fixture
def platform(tmp_path: Path) -> FakePlatform:
    return FakePlatform(load_environment(REPO / "drills/environments/elastic.yaml"), tmp_path / "undo.jsonl")


def scaler(platform: FakePlatform, tmp_path: Path, p99: list[float | None], **spec: object) -> Autoscaler:
    settings = AutoscaleSpec(**{"above_ms": 100, "for_s": FOR_S, "cooldown_s": 60, **spec})  # type: ignore[arg-type]
    return Autoscaler(platform, settings, signal=lambda now: p99[0], timeline=tmp_path / "timeline.jsonl")  # type: ignore[arg-type]


def test_it_scales_out_only_after_the_p99_stayed_high_for_for_s_then_cools_down(platform: FakePlatform, tmp_path: Path) -> None:
    p99: list[float | None] = [150.0]
    auto = scaler(platform, tmp_path, p99)
    auto.tick()
    assert platform.scaled == []  # high for 0 s
    p99[0] = 80.0
    auto.tick()  # back under: the clock starts again
    p99[0] = 150.0
    auto.tick()
    time.sleep(FOR_S + 0.1)
    auto.tick()
    assert platform.scaled == [("primary", 3)]
    time.sleep(FOR_S + 0.1)
    auto.tick()
    assert platform.scaled == [("primary", 3)]  # cooling down
    [scaled] = [e for e in read_events(tmp_path / "timeline.jsonl") if isinstance(e, Scaled)]
    assert (scaled.region, scaled.from_nodes, scaled.to_nodes, scaled.trigger_p99_ms) == ("primary", 2, 3, 150.0)
    assert scaled.time_to_scale_s == pytest.approx(2.0)


def test_no_signal_never_scales(platform: FakePlatform, tmp_path: Path) -> None:
    auto = scaler(platform, tmp_path, [None], for_s=0)
    auto.tick()
    auto.tick()
    assert platform.scaled == []


def test_it_scales_the_region_that_serves_and_stops_at_max_nodes(platform: FakePlatform, tmp_path: Path) -> None:
    platform.down = {"primary"}  # failed over: the standby serves
    auto = scaler(platform, tmp_path, [500.0], for_s=0, cooldown_s=0, step=3)
    auto.tick()
    auto.tick()
    assert platform.scaled == [("standby", 4)]  # 2 + 3, held to max_nodes 4
    refused = [e for e in read_events(tmp_path / "timeline.jsonl") if isinstance(e, ScaleRefused)]
    assert [(e.region, e.nodes) for e in refused] == [("standby", 4)] and "max_nodes" in refused[0].reason


def test_observe_mode_scales_nothing_and_records_each_change(platform: FakePlatform, tmp_path: Path) -> None:
    auto = scaler(platform, tmp_path, [900.0], mode="observe", for_s=0)
    auto.tick()
    auto.tick()  # nothing changed: nothing recorded
    platform.nodes["standby"] = 3  # the user's HPA scaled it
    auto.tick()
    seen = [(e.region, e.nodes, e.ready) for e in read_events(tmp_path / "timeline.jsonl") if isinstance(e, Replicas)]
    assert platform.scaled == [] and seen == [("primary", 2, 2), ("standby", 2, 2), ("standby", 3, 3)]


def test_the_scaling_section_times_each_scale_out_to_its_first_answer(tmp_path: Path) -> None:
    t = 1000.0
    scaled = Scaled(at=t + 3, region="primary", from_nodes=2, to_nodes=3, nodes=["primary-2"], requested_at=t, ready_at=t + 2,
                    serving_at=t + 2.5, trigger_p99_ms=140)  # fmt: skip
    log = pd.DataFrame({"sent_at": [t - 1, t + 1, t + 2.8, t + 3.1], "node": ["primary-2", "primary-0", "primary-2", "primary-2"],
                        "outcome": ["ok", "ok", "ok", "ok"]})  # fmt: skip
    section = scaling_section([scaled, ScaleRefused(at=t + 9, region="primary", nodes=4, reason="at max_nodes (4)")], log)
    assert section is not None
    [out] = section.scale_outs
    assert (out.time_to_scale_s, out.first_request_s) == (2.5, pytest.approx(2.8)) and section.refused == ["primary: at max_nodes (4)"]
    assert scaling_section([], log) is None


def test_the_scaling_checks_want_a_scale_out_within_its_budget(tmp_path: Path) -> None:
    spec = load_drill(REPO / "drills/surge-3x.yaml")
    assert spec.scaling is not None
    expecting = spec.model_copy(update={"scaling": spec.scaling.model_copy(update={"expect_scale_out": True, "max_time_to_scale_s": 5.0})})
    t = 1000.0
    slow = scaling_section([Scaled(at=t, region="primary", from_nodes=2, to_nodes=3, requested_at=t, ready_at=t + 6, serving_at=t + 7)], None)
    assert {c.name: c.verdict for c in scaling_checks(expecting, slow)} == {"scale_out": Verdict.PASS, "time_to_scale": Verdict.FAIL}
    never = {c.name: c for c in scaling_checks(expecting, None)}
    assert never["scale_out"].verdict is Verdict.FAIL and "never scaled out" in never["scale_out"].detail
    assert never["time_to_scale"].verdict is Verdict.NO_DATA
    # surge-3x measures, does not require, a scale-out: none needed is a pass, a slow one is not
    assert [(c.name, c.verdict) for c in scaling_checks(spec, None)] == [("time_to_scale", Verdict.PASS)]
    assert [(c.name, c.verdict) for c in scaling_checks(spec, slow)] == [("time_to_scale", Verdict.PASS)]  # 7 s of 30
    tight = spec.model_copy(update={"scaling": spec.scaling.model_copy(update={"max_time_to_scale_s": 5.0})})
    assert [(c.name, c.verdict) for c in scaling_checks(tight, slow)] == [("time_to_scale", Verdict.FAIL)]
    assert scaling_checks(load_drill(REPO / "drills/node-crash.yaml"), None) == []
