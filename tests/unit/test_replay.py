"""The open-loop scheduler on a fake clock: requests leave at their due time, never late
because an earlier one was slow, and every cap is honoured."""

from __future__ import annotations

import pytest

from drillkit.replay import Dispatch, Schedule, run_schedule


class FakeClock:
    """Time moves only when the dispatcher sleeps (or a test says a send took time)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.t = start
        self.naps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.t += seconds


def test_each_request_is_dispatched_exactly_at_its_due_time() -> None:
    clock = FakeClock()
    sent: list[Dispatch] = []
    schedule = Schedule.build([0.0, 0.1, 0.1, 2.0, 2.5])
    count = run_schedule(schedule, start_at=clock.now(), now=clock.now, sleep=clock.sleep, send=sent.append)
    assert count == 5
    assert [d.scheduled_at - 1_000.0 for d in sent] == pytest.approx([0.0, 0.1, 0.1, 2.0, 2.5])
    assert [d.lag_s for d in sent] == pytest.approx([0.0] * 5)
    assert max(clock.naps) <= 0.25  # long gaps are slept in short naps, so a stop is prompt


def test_a_slow_send_shows_up_as_lag_not_as_a_shifted_schedule() -> None:
    clock = FakeClock()
    sent: list[Dispatch] = []

    def slow_send(d: Dispatch) -> None:
        sent.append(d)
        clock.t += 0.3  # a sender that blocks (the thing open-loop replay must not do)

    run_schedule(Schedule.build([0.0, 0.1, 0.2, 1.0]), start_at=clock.now(), now=clock.now, sleep=clock.sleep, send=slow_send)
    assert [round(d.scheduled_at - 1_000.0, 3) for d in sent] == [0.0, 0.1, 0.2, 1.0]
    assert [round(d.lag_s, 3) for d in sent] == [0.0, 0.2, 0.4, 0.0]


def test_speed_divides_offsets() -> None:
    assert Schedule.build([0.0, 1.0, 3.0], speed=4.0).due_s.tolist() == [0.0, 0.25, 0.75]


def test_shards_partition_the_trace_without_overlap() -> None:
    offsets = [i * 0.01 for i in range(10)]
    shards = [Schedule.build(offsets, shard=(i, 3)) for i in range(3)]
    rows = sorted(r for s in shards for r in s.rows.tolist())
    assert rows == list(range(10))
    assert shards[1].rows.tolist() == [1, 4, 7]


def test_request_and_duration_caps_are_global() -> None:
    offsets = [float(i) for i in range(100)]
    assert len(Schedule.build(offsets, max_requests=10)) == 10
    assert sum(len(Schedule.build(offsets, shard=(i, 2), max_requests=10)) for i in range(2)) == 10
    assert Schedule.build(offsets, speed=2.0, max_duration_s=5.0).rows.tolist() == list(range(11))


def test_a_stop_request_ends_the_replay_early() -> None:
    clock = FakeClock()
    sent: list[Dispatch] = []
    schedule = Schedule.build([float(i) for i in range(100)])
    count = run_schedule(
        schedule, start_at=clock.now(), now=clock.now, sleep=clock.sleep, send=sent.append,
        stopped=lambda: clock.t >= 1_003.0,
    )  # fmt: skip
    assert count == 3 and len(sent) == 3


@pytest.mark.parametrize("kwargs", [{"speed": 0}, {"shard": (2, 2)}, {"shard": (-1, 2)}])
def test_invalid_arguments_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        Schedule.build([0.0], **kwargs)
