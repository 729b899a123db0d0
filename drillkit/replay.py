"""Open-loop replay: send each request at its scheduled time, whatever the system does.

A closed-loop generator waits for a response before sending the next request, so a slow or
dead region lowers the offered load and hides its own latency (coordinated omission). Here
the schedule is fixed in advance from the trace: request *i* is due at
``start + offset_i / speed``, each is sent on its own greenlet (or thread), and the lag
between due and actual send is recorded so a generator that cannot keep up is visible.

The dispatcher takes its clock and its spawner as arguments, so it is tested on a fake
clock without gevent:

>>> schedule = Schedule.build([0.0, 0.5, 1.0], speed=2.0)
>>> schedule.due_s.tolist()
[0.0, 0.25, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

_MAX_NAP_S = 0.25  # a gap in the trace must not delay a stop request


@dataclass(frozen=True)
class Schedule:
    """Which trace rows to send (``rows``) and when, in seconds after the start (``due_s``)."""

    rows: np.ndarray  # int64 row numbers into the trace
    due_s: np.ndarray  # float64, non-decreasing

    @classmethod
    def build(
        cls,
        offsets_s: Sequence[float] | np.ndarray,
        *,
        speed: float = 1.0,
        shard: tuple[int, int] = (0, 1),
        max_requests: int | None = None,
        max_duration_s: float | None = None,
    ) -> Schedule:
        """Rows of this shard (``index, count``: every count-th row), capped in count and time."""
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        index, count = shard
        if not 0 <= index < count:
            raise ValueError(f"shard index {index} outside 0..{count - 1}")
        due = np.asarray(offsets_s, dtype=np.float64) / speed
        rows = np.arange(len(due), dtype=np.int64)
        keep = np.ones(len(due), dtype=bool)
        if max_duration_s is not None:
            keep &= due <= max_duration_s
        if max_requests is not None:
            keep &= rows < max_requests  # the cap is global: every shard stops at the same row
        keep &= rows % count == index
        return cls(rows=rows[keep], due_s=due[keep])

    def __len__(self) -> int:
        return len(self.rows)


class Dispatch(NamedTuple):
    """A request handed to the sender: its trace row, when it was due and when it left.

    A NamedTuple: one is made per request on the generator's hot path.
    """

    row: int
    scheduled_at: float
    dispatched_at: float

    @property
    def lag_s(self) -> float:
        return self.dispatched_at - self.scheduled_at


def run_schedule(
    schedule: Schedule,
    *,
    start_at: float,
    now: Callable[[], float],
    sleep: Callable[[float], None],
    send: Callable[[Dispatch], None],
    stopped: Callable[[], bool] = lambda: False,
) -> int:
    """Hand every scheduled row to ``send`` at its due time; return how many were sent.

    ``send`` must not block (spawn a greenlet or thread): the dispatcher never waits for a
    response, which is what makes the replay open-loop.
    """
    sent = 0
    for row, due in zip(schedule.rows.tolist(), schedule.due_s.tolist(), strict=True):
        scheduled_at = start_at + due
        while (wait := scheduled_at - now()) > 0 and not stopped():
            sleep(min(wait, _MAX_NAP_S))
        if stopped():
            break
        send(Dispatch(row=row, scheduled_at=scheduled_at, dispatched_at=now()))
        sent += 1
    return sent
