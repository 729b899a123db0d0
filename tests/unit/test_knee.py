"""A region's knee from a ramp's request log: each step judged, what ended the search, the
verdict against a floor, a hostile ramp output, and the history that keeps each knee.

The logs are built by hand: a step's answers are fast (5 ms) or slow (400 ms against a
250 ms objective), and a lagging generator is 80 ms behind (a 10 ms bound), so no threshold
sits near a value.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drillkit.errors import SpecError
from drillkit.evaluate import read_ramps
from drillkit.events import ActivityEnded
from drillkit.knee import RAMP, CapacitySection, capacity_section, curve, ramp_trace, rates
from drillkit.report.history import History, Knee, row_of
from drillkit.report.run import load_run
from drillkit.request_log import RequestLogWriter, RequestRecord, read_request_log
from drillkit.spec import load_drill
from drillkit.trace import read_trace
from drillkit.verdict import Verdict, knee_checks
from tests.fakes.runs import make_run

REPO = Path(__file__).resolve().parents[2]
FAST, SLOW, LAG = 0.005, 0.4, 0.08


def step_rows(start: float, rate: float, latency_s: float, *, lag_s: float = 0.0, outcome: str = "ok",
              share: float = 1.0) -> pd.DataFrame:  # fmt: skip
    n = int(rate * share)
    scheduled = start + np.arange(n) / rate
    return pd.DataFrame({"scheduled_at": scheduled, "sent_at": scheduled + lag_s, "latency_s": latency_s, "outcome": outcome})


def log(*steps: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(steps, ignore_index=True)


def judged(frame: pd.DataFrame, steps: list[float]):  # type: ignore[no-untyped-def]
    return curve(frame, "standby", steps, 1.0, p99_ms=250, error_budget=0.01, max_lag_ms=10)


def test_rates_grow_geometrically_and_end_at_the_maximum() -> None:
    assert rates(40, 1.2, 100) == [40.0, 48.0, 57.6, 69.1, 82.9, 99.5, 100.0]
    assert rates(100, 2, 100) == [100.0]


def test_the_knee_is_the_last_step_within_the_slo_from_the_first_up() -> None:
    frame = log(step_rows(0, 20, FAST), step_rows(1, 40, FAST), step_rows(2, 80, SLOW), step_rows(3, 160, FAST))
    c = judged(frame, [20, 40, 80, 160])
    assert (c.knee_rps, c.limited_by) == (40, "slo")  # the fast fourth step never counts: the search ended at the third
    assert [s.within_slo for s in c.steps] == [True, True, False, True]
    assert c.steps[2].p99_ms == pytest.approx(400) and c.steps[0].achieved_rps == 20


def test_errors_and_shed_requests_past_the_budget_end_the_search() -> None:
    shed = step_rows(2, 80, FAST, outcome="shed").iloc[:4]  # 4 of 84 requests: 5 %, over the 1 % budget
    frame = log(step_rows(0, 20, FAST), step_rows(1, 40, FAST), step_rows(2, 80, FAST).iloc[4:], shed)
    c = judged(frame, [20, 40, 80])
    assert (c.knee_rps, c.limited_by) == (40, "slo") and c.steps[2].error_ratio == pytest.approx(4 / 80)


def test_a_step_the_generator_fell_behind_on_is_never_the_systems_limit() -> None:
    lagging = judged(log(step_rows(0, 20, FAST), step_rows(1, 40, SLOW, lag_s=LAG)), [20, 40])
    assert (lagging.knee_rps, lagging.limited_by) == (20, "generator") and lagging.steps[1].generator_limited
    short = judged(log(step_rows(0, 20, FAST), step_rows(1, 40, FAST, share=0.5)), [20, 40])  # sent half of its requests
    assert (short.knee_rps, short.limited_by) == (20, "generator")
    whole = judged(log(step_rows(0, 20, FAST), step_rows(1, 40, FAST)), [20, 40])
    assert (whole.knee_rps, whole.limited_by) == (40, "ramp")


def test_the_knee_check_passes_fails_against_the_floor_and_says_at_least(tmp_path: Path) -> None:
    spec = load_drill(REPO / "drills/capacity.yaml")
    broken = judged(log(step_rows(0, 20, SLOW)), [20])
    limited = judged(log(step_rows(0, 20, FAST), step_rows(1, 40, FAST, lag_s=LAG)), [20, 40])
    section = CapacitySection(regions=[broken, limited.model_copy(update={"region": "primary"})])
    checks = {c.name: c for c in knee_checks(spec, section)}
    assert checks["knee:standby"].verdict is Verdict.NO_DATA and "first step" in checks["knee:standby"].detail
    assert checks["knee:primary"].verdict is Verdict.PASS and "at least" in checks["knee:primary"].detail
    floor = spec.model_copy(update={"capacity": spec.capacity.model_copy(update={"min_knee_rps": {"primary": 30.0}})})
    low = next(c for c in knee_checks(floor, section) if c.name == "knee:primary")
    assert low.verdict is Verdict.FAIL and "at least 30 required" in low.detail
    assert [c.verdict for c in knee_checks(spec, None)] == [Verdict.NO_DATA]  # a capacity drill that ramped nothing


def test_the_ramps_schedule_holds_each_rate_for_its_step(tmp_path: Path) -> None:
    trace = read_trace(REPO / "loadtests/traces/drill.parquet")
    written = read_trace(ramp_trace(trace, [10, 20], 2.0, tmp_path / "ramp"))
    offsets = written.frame["offset_s"].to_numpy()
    assert len(offsets) == 20 + 40 and (np.diff(offsets) > 0).all()
    assert (offsets[:20] < 2).all() and offsets[20] == 2 and np.diff(offsets[20:]).max() == pytest.approx(0.05)


def ramp_event(output: object) -> ActivityEnded:
    return ActivityEnded(at=time.time(), name="ramp", func=RAMP, output=output)


@pytest.mark.parametrize("output, why", [
    ({"region": "standby", "rates": [10], "step_s": 1, "max_lag_ms": 10, "log": "../../etc"}, "'..' is not allowed"),
    ({"region": "standby", "rates": [10], "step_s": 1, "max_lag_ms": 10, "log": "/etc"}, "not a plain relative path"),
    ({"region": "standby", "rates": [], "step_s": 1, "max_lag_ms": 10, "log": "capacity/standby"}, "rates"),
    ({"region": "standby", "rates": [10], "step_s": -1, "max_lag_ms": 10, "log": "capacity/standby"}, "step_s"),
])  # fmt: skip
def test_a_hostile_ramp_output_is_refused_naming_the_timeline(tmp_path: Path, output: dict[str, object], why: str) -> None:
    with pytest.raises(SpecError) as caught:
        read_ramps(tmp_path, [ramp_event(output)])
    assert "timeline.jsonl" in caught.value.file and "ramp" in str(caught.value.field)
    assert why in caught.value.problem


def test_a_ramps_request_log_is_read_from_inside_the_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "capacity" / "standby"
    writer = RequestLogWriter(folder, worker="ramp")
    for i, row in enumerate(step_rows(100, 20, FAST).itertuples()):
        writer.append(RequestRecord(i, "search", row.scheduled_at, row.sent_at, row.latency_s, "ok", "", 200, "standby", "standby-0", "ramp"))
    writer.flush()
    [(ramp, frame)] = read_ramps(tmp_path, [ramp_event({"region": "standby", "rates": [20], "step_s": 1, "max_lag_ms": 10,
                                                       "log": "capacity/standby", "nodes": 2})])  # fmt: skip
    section = capacity_section([(ramp, frame)], p99_ms=250, error_budget=0.01)
    assert section is not None and section.regions[0].knee_rps == 20 and len(read_request_log(folder)) == 20
    assert capacity_section([], p99_ms=250, error_budget=0.01) is None


def test_the_history_keeps_the_newest_knee_of_each_region_and_refuses_a_damaged_row(tmp_path: Path) -> None:
    store = History(tmp_path / "h.sqlite")
    row = row_of(load_run(make_run(tmp_path / "r")))
    store.append(row, [Knee("local", "standby", 100.0, 150.0, "slo", 2, "a"), Knee("local", "standby", 200.0, 180.0, "generator", 2, "b")])
    latest = store.latest_knee("local", "standby")
    assert latest is not None and (latest.knee_rps, latest.limited_by, latest.nodes) == (180.0, "generator", 2)
    assert store.latest_knee("local", "primary") is None and store.latest_knee("elsewhere", "standby") is None
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE knees SET knee_rps = 'lots' WHERE run_dir = 'b'")
    with pytest.raises(SpecError) as caught:
        store.latest_knee("local", "standby")
    assert caught.value.field == "knees" and "rebuild" in caught.value.fix
