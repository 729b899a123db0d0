"""Trace parsing: CSV and Parquet read alike; every bad row is named with its column and fix."""

from pathlib import Path

import pandas as pd
import pytest

from drillkit.errors import SpecError
from drillkit.trace import COLUMNS, read_trace, summarize, write_trace

HEADER = "offset_s,kind,user_id,query,k,session_id\n"


def csv(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(header + body)
    return path


def test_csv_and_parquet_read_alike_sorted_by_offset(tmp_path: Path) -> None:
    path = csv(tmp_path, "0.5,recommend,3,,10,s1\n0.0,search,3,red shoes,10,s1\n1.5,recommend,7,,20,\n")
    trace = read_trace(path)
    assert list(trace.frame.columns) == list(COLUMNS)
    assert trace.frame["offset_s"].tolist() == [0.0, 0.5, 1.5]
    assert trace.frame["query"].tolist() == ["red shoes", "", ""]
    assert trace.kinds() == {"recommend": 2, "search": 1}
    assert trace.duration_s == 1.5
    parquet = write_trace(trace.frame, tmp_path / "t.parquet")
    assert read_trace(parquet).frame.equals(trace.frame)


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    trace = read_trace(csv(tmp_path, "0,recommend,1,10\n", header="offset_s,kind,user_id,k\n"))
    assert trace.frame["session_id"].tolist() == [""]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("-1,recommend,1,,10,\n", "row 2, column offset_s", "must be a number 0.."),
        ("x,recommend,1,,10,\n", "row 2, column offset_s", "must be a number 0.."),
        ("0,browse,1,,10,\n", "row 2, column kind", "unknown kind 'browse'"),
        ("0,recommend,1,,10,\n0,recommend,-4,,10,\n", "row 3, column user_id", "must be an integer 0.."),
        ("0,recommend,1,,0,\n", "row 2, column k", "integer 1..1000"),
        ("0,recommend,1,,2.5,\n", "row 2, column k", "integer 1..1000"),
        ("0,search,1,,10,\n", "row 2, column query", "a search row has no query"),
    ],
)
def test_bad_rows_name_the_line_and_column(tmp_path: Path, body: str, field: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        read_trace(csv(tmp_path, body))
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_missing_columns_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="required column missing"):
        read_trace(csv(tmp_path, "0,1\n", header="offset_s,user_id\n"))
    with pytest.raises(SpecError, match="no rows"):
        read_trace(csv(tmp_path, ""))
    with pytest.raises(SpecError, match="not found"):
        read_trace(tmp_path / "none.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(SpecError, match="cannot be read"):
        read_trace(tmp_path / "bad.parquet")


def test_user_ids_beyond_the_model_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="<= 99"):
        read_trace(csv(tmp_path, "0,recommend,100,,10,\n"), max_user_id=99)


def test_summarize_reports_rate_mix_users_sessions_and_top_queries(tmp_path: Path) -> None:
    rows = [(i * 0.1, "search" if i % 4 == 0 else "recommend", i % 5, "shoes" if i % 8 == 0 else "hat", 10, f"s{i // 4}")
            for i in range(100)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.loc[frame["kind"] == "recommend", "query"] = ""
    stats = summarize(read_trace(write_trace(frame, tmp_path / "t.csv")), buckets=3)
    assert stats.requests == 100
    assert stats.mix == {"recommend": 0.75, "search": 0.25}
    assert stats.users == 5 and stats.sessions == 25
    assert [round(r) for _, r in stats.rate_rps] == [10, 10, 10]
    assert stats.top_queries == [("shoes", 13), ("hat", 12)]
