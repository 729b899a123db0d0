"""Property: any spec, experiment or trace file gives a valid object or the project's error.

Inputs are random bytes and text, damaged copies of the shipped files, and structured
mutations of them (one value anywhere in the tree replaced by a hostile one), so the deep
fields are reached and not only the parsers. Profiles: tests/fuzz/conftest.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drillkit.plan import load_experiment
from drillkit.spec import load_drill, load_environment, load_policy, load_suite
from drillkit.trace import read_trace
from tests.fuzz.mutate import REPO, damaged_bytes, dump, load_shipped, mutated, outcome

LOADERS: dict[str, tuple[Callable[[Path], Any], list[Path]]] = {
    # rbac*.yaml are Kubernetes RBAC for the kubernetes platform (deployed and attached), not environment specs
    "environment": (load_environment, sorted(p for p in (REPO / "drills/environments").glob("*.yaml") if not p.name.startswith("rbac"))),
    "drill": (load_drill, sorted((REPO / "drills").glob("*.yaml"))),
    "suite": (load_suite, sorted((REPO / "drills/suites").glob("*.yaml"))),
    "policy": (load_policy, sorted((REPO / "drills/policies").glob("*.yaml"))),
}
EXPERIMENTS = sorted((REPO / "chaos").iterdir())
ENV_FILE = REPO / "drills/environments/local.yaml"
TRACE_PARQUET = (REPO / "loadtests/traces/drill.parquet").read_bytes()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-specs")


def _experiment(path: Path) -> Any:
    return load_experiment(path, ENV_FILE)


@pytest.mark.parametrize("kind", sorted(LOADERS))
@given(data=st.data())
def test_a_mutated_shipped_spec_loads_or_is_refused(work: Path, kind: str, data: st.DataObject) -> None:
    load, shipped = LOADERS[kind]
    original = data.draw(st.sampled_from(shipped))
    path = work / f"{kind}.yaml"
    path.write_text(dump(data.draw(mutated(load_shipped(original))), ".yaml"))
    outcome(lambda: load(path))


@pytest.mark.parametrize("kind", sorted(LOADERS))
@given(data=st.data())
def test_damaged_spec_bytes_load_or_are_refused(work: Path, kind: str, data: st.DataObject) -> None:
    load, shipped = LOADERS[kind]
    path = work / f"{kind}.yaml"
    path.write_bytes(data.draw(damaged_bytes(data.draw(st.sampled_from(shipped)).read_bytes())))
    outcome(lambda: load(path))


@given(text=st.text(max_size=200))
def test_random_text_as_any_spec_is_refused_or_loads(work: Path, text: str) -> None:
    path = work / "random.yaml"
    path.write_text(text)
    for load, _ in LOADERS.values():
        outcome(lambda: load(path))  # noqa: B023  (called at once)


@given(data=st.data())
def test_a_mutated_shipped_experiment_loads_or_is_refused(work: Path, data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(EXPERIMENTS))
    path = work / f"experiment{original.suffix}"
    path.write_text(dump(data.draw(mutated(load_shipped(original))), original.suffix))
    outcome(lambda: _experiment(path))


@given(data=st.data())
def test_damaged_experiment_bytes_load_or_are_refused(work: Path, data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(EXPERIMENTS))
    path = work / f"damaged{original.suffix}"
    path.write_bytes(data.draw(damaged_bytes(original.read_bytes())))
    outcome(lambda: _experiment(path))


@given(blob=st.data())
def test_damaged_parquet_trace_bytes_read_or_are_refused(work: Path, blob: st.DataObject) -> None:
    path = work / "trace.parquet"
    path.write_bytes(blob.draw(damaged_bytes(TRACE_PARQUET)))
    outcome(lambda: read_trace(path, max_user_id=9_999))


_CELL = st.one_of(st.none(), st.floats(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=10))
_COLUMN_NAMES = st.sampled_from(["offset_s", "kind", "user_id", "query", "k", "session_id", "extra"])


@st.composite
def trace_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A frame of hostile rows: each column one type (as Parquet stores it), any values."""
    rows = draw(st.integers(min_value=0, max_value=6))
    names = draw(st.lists(_COLUMN_NAMES, min_size=1, max_size=7, unique=True))
    columns = {}
    for name in names:
        kind = draw(st.sampled_from([st.floats(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=10),
                                     st.sampled_from(["search", "recommend", "browse", ""])]))  # fmt: skip
        columns[name] = draw(st.lists(kind, min_size=rows, max_size=rows))
    return pd.DataFrame(columns)


@given(frame=trace_frames())
def test_hostile_parquet_rows_read_or_are_refused(work: Path, frame: pd.DataFrame) -> None:
    path = work / "rows.parquet"
    frame.to_parquet(path, index=False)
    outcome(lambda: read_trace(path, max_user_id=9_999))


@given(rows=st.lists(st.lists(_CELL, min_size=4, max_size=7), max_size=6))
def test_hostile_csv_rows_read_or_are_refused(work: Path, rows: list[list[Any]]) -> None:
    frame = pd.DataFrame(rows)
    text = io.StringIO()
    frame.to_csv(text, header=["offset_s", "kind", "user_id", "k", "query", "session_id", "x"][: frame.shape[1]], index=False)
    path = work / "rows.csv"
    path.write_text(text.getvalue())
    outcome(lambda: read_trace(path))
