"""Request log parts: atomic per-second files, read back in schedule order, compacted."""

from pathlib import Path

from drillkit.request_log import RECORD_COLUMNS, RequestLogWriter, RequestRecord, compact, read_request_log


def record(row: int, at: float, outcome: str = "ok") -> RequestRecord:
    return RequestRecord(row=row, kind="search", scheduled_at=at, sent_at=at + 0.001, latency_s=0.004,
                         outcome=outcome, error_class="" if outcome == "ok" else "http_5xx", status=200 if outcome == "ok" else 503,
                         region="primary", node="primary-0", worker="w")  # fmt: skip


def test_flush_writes_numbered_parts_and_nothing_when_empty(tmp_path: Path) -> None:
    log = RequestLogWriter(tmp_path / "log", worker="w0")
    assert log.flush() is None
    log.append(record(0, 10.0))
    first = log.flush()
    log.append(record(1, 11.0))
    second = log.flush()
    assert first is not None and second is not None
    assert (first.name, second.name) == ("part-w0-000000.parquet", "part-w0-000001.parquet")
    assert not list((tmp_path / "log").glob("*.tmp"))


def test_parts_of_several_workers_read_back_in_schedule_order(tmp_path: Path) -> None:
    a, b = RequestLogWriter(tmp_path, worker="a"), RequestLogWriter(tmp_path, worker="b")
    a.append(record(0, 10.0))
    a.append(record(2, 12.0, "error"))
    b.append(record(1, 11.0))
    a.flush(), b.flush()
    frame = read_request_log(tmp_path)
    assert frame["row"].tolist() == [0, 1, 2]
    assert frame["outcome"].tolist() == ["ok", "ok", "error"]
    assert tuple(frame.columns) == RECORD_COLUMNS


def test_compact_merges_parts_into_one_file(tmp_path: Path) -> None:
    log = RequestLogWriter(tmp_path, worker="a")
    for i in range(3):
        log.append(record(i, 10.0 + i))
        log.flush()
    target = compact(tmp_path)
    assert target.name == "requests.parquet"
    assert not list(tmp_path.glob("part-*"))
    assert read_request_log(tmp_path)["row"].tolist() == [0, 1, 2]


def test_an_empty_log_reads_as_an_empty_frame_with_the_columns(tmp_path: Path) -> None:
    frame = read_request_log(tmp_path)
    assert len(frame) == 0 and tuple(frame.columns) == RECORD_COLUMNS


def test_a_taken_part_is_numbered_at_once_and_appears_only_when_written(tmp_path: Path) -> None:
    log = RequestLogWriter(tmp_path, worker="w")
    assert log.take() is None
    log.append(record(0, 10.0))
    first = log.take()
    log.append(record(1, 11.0, "error"))
    second = log.take()
    assert first is not None and second is not None and log.take() is None
    assert not list(tmp_path.iterdir())  # taking builds the table only; no I/O on the event loop
    assert second.write().name == "part-w-000001.parquet"  # parts may be written in any order
    first.write()
    frame = read_request_log(tmp_path)
    assert frame["row"].tolist() == [0, 1] and frame["outcome"].tolist() == ["ok", "error"]
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "row": "int64", "kind": "str", "scheduled_at": "float64", "sent_at": "float64", "latency_s": "float64",
        "outcome": "str", "error_class": "str", "status": "int64", "region": "str", "node": "str", "worker": "str",
        "version": "str",
    }  # fmt: skip


def test_a_log_written_before_the_version_column_reads_with_an_empty_one(tmp_path: Path) -> None:
    import pandas as pd

    old = pd.DataFrame([record(0, 10.0)._asdict()]).drop(columns=["version"])
    old.to_parquet(tmp_path / "part-w-000000.parquet", index=False)
    frame = read_request_log(tmp_path)
    assert tuple(frame.columns) == RECORD_COLUMNS and frame["version"].tolist() == [""]
