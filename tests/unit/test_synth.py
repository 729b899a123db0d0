"""The synthesizer's distributions, measured on generated traces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drillkit.model.catalog import ModelParams, make_catalog
from drillkit.synth import SynthOptions, rate_curve, synthesize
from drillkit.trace import COLUMNS

CATALOG = make_catalog(ModelParams(items=3_000, users=5_000, seed=2))


@pytest.fixture(scope="module")
def trace() -> pd.DataFrame:
    return synthesize(CATALOG, SynthOptions(duration_s=600, mean_rps=60, search_share=0.25, seed=4, bursts=0))


def test_same_seed_same_trace_and_columns_are_the_trace_format() -> None:
    options = SynthOptions(duration_s=20, mean_rps=20, seed=9)
    a, b = synthesize(CATALOG, options), synthesize(CATALOG, options)
    assert a.equals(b)
    assert list(a.columns) == list(COLUMNS)
    assert not a.equals(synthesize(CATALOG, SynthOptions(duration_s=20, mean_rps=20, seed=10)))


def test_mean_rate_and_mix_match_the_options(trace: pd.DataFrame) -> None:
    assert len(trace) / 600 == pytest.approx(60, rel=0.08)
    assert (trace["kind"] == "search").mean() == pytest.approx(0.25, abs=0.03)
    assert trace["offset_s"].between(0, 600, inclusive="left").all()
    assert trace["offset_s"].is_monotonic_increasing


def test_user_popularity_follows_zipf_with_the_asked_exponent(trace: pd.DataFrame) -> None:
    counts = np.sort(trace["user_id"].value_counts().to_numpy())[::-1]
    ranks = np.arange(1, 31)  # the head, where counts are large enough to fit a slope
    slope = np.polyfit(np.log(ranks), np.log(counts[:30]), 1)[0]
    assert -slope == pytest.approx(1.1, abs=0.2)
    assert trace["user_id"].between(0, CATALOG.users - 1).all()


def test_the_rate_follows_the_diurnal_curve(trace: pd.DataFrame) -> None:
    counts, _ = np.histogram(trace["offset_s"], bins=10, range=(0, 600))
    expected = rate_curve(SynthOptions(duration_s=600, mean_rps=60), np.arange(30, 600, 60.0), np.array([]))
    assert counts / 60 == pytest.approx(expected, rel=0.15)
    assert counts[5] > 2 * counts[0]  # midday peak (1 + 0.5) against the night trough (1 - 0.5)


def test_bursts_multiply_the_rate_inside_their_window() -> None:
    options = SynthOptions(duration_s=100, mean_rps=50, diurnal_amplitude=0.0, bursts=1, burst_factor=4.0, burst_s=10, seed=3)
    times = np.arange(0, 100, 0.5)
    curve = rate_curve(options, times, np.array([40.0]))
    inside, before = curve[(times >= 40) & (times < 50)], curve[times < 40]
    assert inside == pytest.approx(np.full(len(inside), 4 * before[0]))
    assert curve.mean() == pytest.approx(50)


def test_sessions_open_with_a_search_and_queries_come_from_the_catalog(trace: pd.DataFrame) -> None:
    first = trace.groupby("session_id").head(1)
    # Sessions that began before the trace did show up with their later recommends only.
    assert (first.loc[first["offset_s"] > 30, "kind"] == "search").all()
    assert (trace.groupby("session_id")["user_id"].nunique() == 1).all()
    words = {w for title in CATALOG.item_title for w in str(title).split()}
    searches = trace.loc[trace["kind"] == "search", "query"]
    assert all(set(q.split()) <= words for q in searches)
    assert (trace.loc[trace["kind"] == "recommend", "query"] == "").all()
    assert set(trace["k"]) <= {10, 20, 50}


def test_recommend_only_traces_and_invalid_options() -> None:
    only = synthesize(CATALOG, SynthOptions(duration_s=10, mean_rps=20, search_share=0.0, seed=1))
    assert set(only["kind"]) == {"recommend"}
    for bad in ({"search_share": 1.5}, {"user_zipf": 1.0}, {"mean_rps": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SynthOptions(**bad)  # type: ignore[arg-type]
