"""Property: any run folder gives a valid object or the project's error (SpecError, exit 2).

The readers behind ``report``, ``gate`` and ``history``: the journal (``read_journal`` /
``parse_journal``), the request log (``read_request_log``) and the history store (SQLite).
Inputs are structured mutations of a real run folder (``tests/fakes/runs.py``), damaged
bytes of its files, and hostile rows.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drillkit.journal import JOURNAL_NAME, parse_journal, read_journal
from drillkit.report.history import HISTORY_NAME, History, row_of
from drillkit.report.run import load_run
from drillkit.request_log import COMPACT_NAME, RECORD_COLUMNS, read_request_log
from tests.fakes.runs import all_sections, make_run
from tests.fuzz.mutate import HOSTILE, damaged_bytes, mutated, outcome


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete, valid run folder with every optional section, and its history store."""
    folder = make_run(tmp_path_factory.mktemp("fuzz-run") / "region-outage-1", duration_s=10.0, rps=20.0,
                      fault_at=3.0, outage_s=1.0, rollback_at=6.0, sections=all_sections())  # fmt: skip
    History(folder.parent / HISTORY_NAME).append(row_of(load_run(folder)))
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-runfolder")


@given(data=st.data())
def test_a_mutated_journal_reads_or_is_refused(run: Path, work: Path, data: st.DataObject) -> None:
    journal = json.loads((run / JOURNAL_NAME).read_text())
    (work / JOURNAL_NAME).write_text(json.dumps(data.draw(mutated(journal))))
    outcome(lambda: read_journal(work / JOURNAL_NAME))


@given(data=st.data())
def test_damaged_journal_bytes_read_or_are_refused(run: Path, work: Path, data: st.DataObject) -> None:
    (work / JOURNAL_NAME).write_bytes(data.draw(damaged_bytes((run / JOURNAL_NAME).read_bytes())))
    outcome(lambda: read_journal(work / JOURNAL_NAME))


@given(value=HOSTILE)
def test_any_parsed_value_as_a_journal_is_refused_or_reads(value: Any) -> None:
    outcome(lambda: parse_journal(value, where="journal.json"))


@given(data=st.data())
def test_damaged_request_log_bytes_read_or_are_refused(run: Path, work: Path, data: st.DataObject) -> None:
    folder = work / "request_log"
    folder.mkdir(exist_ok=True)
    original = (run / "request_log" / COMPACT_NAME).read_bytes()
    (folder / COMPACT_NAME).write_bytes(data.draw(damaged_bytes(original)))
    outcome(lambda: read_request_log(folder))


_TYPED = [st.floats(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.sampled_from(["ok", "error", "x"])]


@st.composite
def request_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Request-log rows with every column of one random type (as Parquet stores it), some columns missing."""
    rows = draw(st.integers(min_value=0, max_value=5))
    names = [c for c in RECORD_COLUMNS if draw(st.integers(0, 9))]  # mostly all columns, sometimes one short
    return pd.DataFrame({c: draw(st.lists(draw(st.sampled_from(_TYPED)), min_size=rows, max_size=rows)) for c in names})


@given(frame=request_frames())
def test_hostile_request_log_rows_read_or_are_refused(work: Path, frame: pd.DataFrame) -> None:
    folder = work / "request_log_rows"
    folder.mkdir(exist_ok=True)
    frame.to_parquet(folder / COMPACT_NAME, index=False)
    outcome(lambda: read_request_log(folder))


@given(data=st.data())
def test_damaged_history_bytes_read_or_are_refused(run: Path, work: Path, data: st.DataObject) -> None:
    path = work / HISTORY_NAME
    path.write_bytes(data.draw(damaged_bytes((run.parent / HISTORY_NAME).read_bytes())))
    outcome(lambda: History(path).rows())


@given(values=st.lists(st.one_of(st.none(), st.floats(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8),
                                 st.binary(max_size=8)), min_size=13, max_size=13))  # fmt: skip
def test_hostile_history_rows_read_or_are_refused(run: Path, work: Path, values: list[Any]) -> None:
    path = work / "rows.sqlite"
    shutil.copyfile(run.parent / HISTORY_NAME, path)
    with sqlite3.connect(path) as db:
        db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(values))})", values)
    db.close()
    outcome(lambda: History(path).rows())
