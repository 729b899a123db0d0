"""The load generator's loop helpers on real gevent: bounded in-flight sends, background log writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import pytest
from greenlet import getcurrent

from drillkit.loop import BackgroundFlusher, InFlight
from drillkit.request_log import RequestLogWriter, RequestRecord, read_request_log


def record(row: int) -> RequestRecord:
    return RequestRecord(row, "recommend", 100.0 + row, 100.0 + row, 0.01, "ok", "", 200, "primary", "primary-0", "w")


def test_in_flight_never_exceeds_its_limit_and_runs_every_call() -> None:
    inflight, seen, done = InFlight(limit=3), [], []

    def call(i: int) -> None:
        seen.append(inflight.running)
        gevent.sleep(0.01)
        done.append(i)

    for i in range(10):
        inflight.spawn(call, i)
        assert inflight.running <= 3  # spawn waited for a free slot
    assert inflight.join(timeout_s=5)
    assert sorted(done) == list(range(10)) and max(seen) == 3 and inflight.running == 0


def test_join_reports_calls_still_running_after_the_timeout() -> None:
    inflight = InFlight(limit=2)
    inflight.spawn(gevent.sleep, 1.0)
    assert inflight.join(timeout_s=0.05) is False
    assert inflight.join(timeout_s=5) is True


def test_a_failing_call_frees_its_slot() -> None:
    inflight = InFlight(limit=1)

    def boom() -> None:
        raise RuntimeError("a bug in a sender")

    inflight.spawn(boom)  # gevent prints the error; the slot must come back
    inflight.spawn(gevent.sleep, 0.0)
    assert inflight.join(timeout_s=5) and inflight.running == 0


def test_a_killed_worker_frees_its_slot() -> None:
    inflight, workers = InFlight(limit=1), []

    def call() -> None:
        workers.append(getcurrent())
        gevent.sleep(10)

    inflight.spawn(call)
    gevent.sleep(0)
    gevent.kill(workers[0])
    gevent.sleep(0)
    assert inflight.running == 0 and inflight.join(timeout_s=1)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        InFlight(limit=0)


class RecordingThreads:
    """A thread pool at the flusher's seam: runs each write on a real thread and notes which."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def apply(self, func: Callable[[], Any]) -> Any:
        result: list[Any] = []

        def run() -> None:
            self.threads.append(threading.get_ident())
            result.append(func())

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        return result[0]


def test_the_flusher_writes_parts_off_the_loop_thread_and_close_writes_the_rest(tmp_path: Path) -> None:
    log, threads = RequestLogWriter(tmp_path, worker="w"), RecordingThreads()
    flusher = BackgroundFlusher(log, every_s=0.05, threads=threads)
    log.append(record(0))
    gevent.sleep(0.2)
    assert [p.name for p in tmp_path.glob("part-*.parquet")] == ["part-w-000000.parquet"]
    assert threads.threads and threading.get_ident() not in threads.threads
    log.append(record(1))
    flusher.close()
    assert read_request_log(tmp_path)["row"].tolist() == [0, 1]
    gevent.sleep(0.1)
    assert len(list(tmp_path.glob("part-*.parquet"))) == 2  # closed: no more periodic writes


def test_workers_are_reused_instead_of_a_new_greenlet_per_call() -> None:
    inflight, workers = InFlight(limit=3), set()

    def call() -> None:
        workers.add(id(getcurrent()))
        gevent.sleep(0.001)

    for _ in range(30):
        inflight.spawn(call)
    assert inflight.join(timeout_s=5)
    assert len(workers) == 3  # a new greenlet per call maps and unmaps a frame stack each time
