"""Golden answers for any model: the per-output rules, golden.json read as untrusted, KServe tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drillkit.errors import ModelRepositoryError
from drillkit.workload.golden import (
    Exact,
    GoldenProbe,
    GoldenSet,
    Tolerance,
    TopK,
    load_golden,
    parse_rule,
    rules_for,
    write_golden,
)
from drillkit.workload.tensors import Tensor, to_json

SHA = "ab" * 32


def test_exact_needs_every_element_and_the_shape() -> None:
    rule = Exact()
    assert rule.difference(np.array([[1, 2]]), np.array([[1, 2]])) is None
    assert "1 of 2 elements differ (first at 1" in (rule.difference(np.array([[1, 2]]), np.array([[1, 3]])) or "")
    assert "shape [2], golden [1, 2]" == rule.difference(np.array([[1, 2]]), np.array([1, 2]))
    words = np.array([b"red", b"shoes"], dtype=np.object_)
    assert rule.difference(words, words.copy()) is None
    assert rule.difference(words, np.array([b"red", b"hats"], dtype=np.object_)) is not None
    nan = np.array([np.nan, 1.0])
    assert rule.difference(nan, nan.copy()) is None  # NaN where the golden answer had NaN


@pytest.mark.parametrize(
    ("got", "passes"),
    [([1.0, 2.0], True), ([1.0009, 2.0], True), ([1.0011, 2.0], False), ([np.nan, 2.0], False), ([np.inf, 2.0], False)],
)
def test_tolerance_is_absolute_plus_relative(got: list[float], passes: bool) -> None:
    rule = Tolerance(abs=0.0005, rel=0.0005)  # 1.0 may move by 0.001
    difference = rule.difference(np.array([1.0, 2.0], np.float32), np.array(got, np.float32))
    assert (difference is None) is passes, difference


def test_topk_counts_ids_in_common_per_row_ordered_or_not() -> None:
    want = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert TopK(min_overlap=1.0).difference(want, np.array([[4, 3, 2, 1], [8, 7, 6, 5]])) is None
    assert TopK(min_overlap=1.0, ordered=True).difference(want, np.array([[4, 3, 2, 1], [5, 6, 7, 8]])) == \
        "row 0 shares 0 of 4 positions (needs 100%)"
    assert TopK(min_overlap=0.75).difference(want, np.array([[1, 2, 3, 9], [5, 6, 0, 0]])) == \
        "row 1 shares 2 of 4 ids (needs 75%)"


def _probe(ids: list[int], scores: list[float]) -> GoldenProbe:
    inputs = (Tensor.from_numpy("user_id", np.array([[7]], np.int64)),)
    outputs = (Tensor.from_numpy("item_ids", np.array([ids], np.int64)), Tensor.from_numpy("scores", np.array([scores], np.float32)))
    return GoldenProbe(0, "recommend", None, inputs, outputs)


def test_topk_with_scores_keeps_each_ids_golden_score() -> None:
    rules = {"recommend": {"item_ids": TopK(min_overlap=0.5, scores="scores"), "scores": Tolerance(abs=1e-3)}}
    golden = GoldenSet("v1", SHA, (_probe([10, 11, 12], [0.9, 0.5, 0.5]),), rules)
    probe = golden.probes[0]
    near_tie = {"item_ids": np.array([[10, 12, 11]]), "scores": np.array([[0.9, 0.5, 0.5]], np.float32)}
    assert golden.compare(probe, near_tie) is None
    reranked = {"item_ids": np.array([[11, 10, 12]]), "scores": np.array([[0.9, 0.5, 0.5]], np.float32)}
    assert "the scores of ids in common" in (golden.compare(probe, reranked) or "")
    assert golden.compare(probe, {"item_ids": near_tie["item_ids"]}) == "recommend probe 0: output scores missing"


def test_golden_json_round_trips_and_binds_to_its_manifest(tmp_path: Path) -> None:
    probe = _probe([1, 2, 3], [0.3, 0.2, 0.1])
    rules = rules_for([probe], {"item_ids": TopK(min_overlap=0.9)})
    assert rules == {"recommend": {"item_ids": TopK(min_overlap=0.9), "scores": Tolerance(abs=1e-6, rel=1e-3)}}
    write_golden(tmp_path, GoldenSet("v1", SHA, (probe,), rules, source="http://127.0.0.1:1", recorded_at="now"))
    loaded = load_golden(tmp_path, SHA)
    assert loaded is not None and loaded.rules == rules and loaded.models == ("recommend",)
    assert loaded.compare(loaded.probes[0], {t.name: t.array for t in probe.outputs}) is None
    with pytest.raises(ModelRepositoryError, match="recorded for another manifest"):
        load_golden(tmp_path, "cd" * 32)
    assert load_golden(tmp_path / "nothing-here", SHA) is None


def _golden_file(**changes: object) -> dict[str, object]:
    tensor = {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}
    body: dict[str, object] = {"format": 1, "version": "v1", "manifest_sha256": SHA, "recorded_at": "t", "source": "s",
                               "rules": {}, "probes": [{"model": "m", "inputs": [tensor], "outputs": [tensor]}]}  # fmt: skip
    return {**body, **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"format": 2}, "format"),
        ({"probes": []}, "probes"),
        ({"rules": {"m": {"x": {"rule": "fuzzy"}}}}, "rules.m.x"),
        ({"rules": {"m": {"x": {"rule": "topk", "min_overlap": 2}}}}, "rules.m.x.topk.min_overlap"),
        ({"rules": {"m": {"x": {"rule": "tolerance", "rel": float("inf")}}}}, "rules.m.x.tolerance.rel"),
        ({"probes": [{"model": "../m", "inputs": [], "outputs": []}]}, "probes.0.model"),
        ({"probes": [{"model": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1]}],
                      "outputs": [{"name": "y", "datatype": "INT8", "shape": [1], "data": [1]}]}]}, "probes: data has 1 elements"),
        ({"probes": [{"model": "m", "inputs": [{"name": "x", "datatype": "INT8", "shape": [1], "data": [300]}],
                      "outputs": [{"name": "y", "datatype": "INT8", "shape": [1], "data": [1]}]}]}, "probes: INT8 data must lie in"),
        ({"probes": [{"model": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1 << 30, 1 << 30], "data": []}],
                      "outputs": [{"name": "y", "datatype": "INT8", "shape": [1], "data": [1]}]}]}, "probes.0.inputs.0"),
    ],
)
def test_a_malformed_golden_json_is_refused_naming_the_field(tmp_path: Path, changes: dict[str, object], field: str) -> None:
    (tmp_path / "golden.json").write_text(json.dumps(_golden_file(**changes)))
    with pytest.raises(ModelRepositoryError, match="not valid golden answers") as info:
        load_golden(tmp_path, SHA)
    assert f"({field}" in str(info.value), str(info.value)
    assert "drillkit golden record" in str(info.value)


def test_golden_json_that_is_a_link_or_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text(json.dumps(_golden_file()))
    (tmp_path / "golden.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(ModelRepositoryError, match="is not a regular file"):
        load_golden(tmp_path, SHA)
    (tmp_path / "golden.json").unlink()
    (tmp_path / "golden.json").write_bytes(b"\xff{not json")
    with pytest.raises(ModelRepositoryError, match="not valid golden answers"):
        load_golden(tmp_path, SHA)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("score=exact", ("score", Exact())), ("m/score=tolerance:0.1:0", ("m/score", Tolerance(abs=0.1, rel=0.0))),
     ("ids=topk:0.8:ordered", ("ids", TopK(min_overlap=0.8, ordered=True)))],
)
def test_rules_from_the_command_line(text: str, expected: tuple[str, object]) -> None:
    assert parse_rule(text) == expected


@pytest.mark.parametrize("text", ["score", "score=fuzzy", "ids=topk:1.5", "ids=topk:0.5:sideways", "s=tolerance:x:1"])
def test_a_bad_rule_on_the_command_line_says_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="use OUTPUT=exact, OUTPUT=tolerance:ABS:REL or OUTPUT=topk"):
        parse_rule(text)


def test_tensors_read_nested_or_flat_and_write_flat() -> None:
    nested = Tensor.of({"name": "q", "datatype": "BYTES", "shape": [2, 1], "data": [["red"], ["blue"]]})
    assert nested.array.tolist() == [[b"red"], [b"blue"]]
    assert to_json(nested) == {"name": "q", "datatype": "BYTES", "shape": [2, 1], "data": ["red", "blue"]}
    with pytest.raises(ValueError, match="BOOL data must be true or false"):
        Tensor.of({"name": "b", "datatype": "BOOL", "shape": [1], "data": [1]})
    with pytest.raises(ValueError, match="INT32 data must be integers"):
        Tensor.of({"name": "k", "datatype": "INT32", "shape": [1], "data": [1.5]})
