"""Recording golden answers from one node (``drillkit golden record``) of a user's model.

The node is a FakeRanker (tests/fakes/ranker.py): a real HTTP server on 127.0.0.1:0 serving
KServe v2 metadata and binary inference for the fixture ranker's interface.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drillkit.errors import ComponentError, SpecError
from drillkit.model.repository import Golden, Manifest, RecommendProbe
from drillkit.platforms.base import ComponentKind, ComponentStatus, EnvironmentStatus, Health
from drillkit.smoke import run_probes
from drillkit.workload.golden import Exact, Tolerance, load_golden, write_golden
from drillkit.workload.metadata import fetch_metadata
from drillkit.workload.record import pick_node, probe_requests, record, synthesized
from drillkit.workload.tensors import Tensor
from drillkit.workload.trace import Request
from tests.fakes.http import serve
from tests.fakes.ranker import METADATA, rank, ranker

SHA = "cd" * 32


def manifest(workload: str = "triton") -> Manifest:
    golden = Golden(recommend=(RecommendProbe(3, 5, (1, 2, 3, 4, 5), (0.5, 0.4, 0.3, 0.2, 0.1)),), search=())
    models = ("ranker",) if workload == "triton" else ("recommend", "search")
    return Manifest(version="r1", created_at="t", params={}, files={}, golden=golden, sha256=SHA,
                    workload=workload, models=models)  # fmt: skip


def test_probes_made_up_from_the_metadata_record_the_nodes_answers(tmp_path: Path) -> None:
    with serve(ranker()) as url:
        meta = {"ranker": fetch_metadata(url, "ranker")}
        requests = probe_requests(manifest(), meta, 4)
        golden = record(url, requests, version="r1", manifest_sha256=SHA, metadata=meta)
    assert len(golden.probes) == 4 and golden.models == ("ranker",)
    for probe in golden.probes:
        (features,) = probe.inputs
        assert features.name == "features" and features.array.shape == (1, 16) and features.datatype == "FP32"
        score, top = rank(features.array)
        outputs = {t.name: t.array for t in probe.outputs}
        assert np.array_equal(outputs["score"], score) and np.array_equal(outputs["top_features"], top)
    # floats within a tolerance, integers exact: the defaults for a model drillkit knows nothing of
    assert golden.rules["ranker"] == {"score": Tolerance(abs=1e-6, rel=1e-3), "top_features": Exact()}
    assert golden.source == url and golden.recorded_at
    write_golden(tmp_path, golden)
    again = load_golden(tmp_path, SHA)
    assert again is not None and [p.outputs[0].array.tolist() for p in again.probes] == [p.outputs[0].array.tolist() for p in golden.probes]


def test_a_recorded_set_tells_another_model_version_from_the_same_one() -> None:
    with serve(ranker()) as url:
        golden = record(url, synthesized({"ranker": _meta(url)}, 3), version="r1", manifest_sha256=SHA)
        assert all(r.ok for r in run_probes(url, golden))
    with serve(ranker(shift=0.5)) as other:
        results = run_probes(other, golden)
    assert results and not any(r.ok for r in results)
    assert all(r.wrong and r.wrong.startswith(f"ranker probe {i}: score: ") for i, r in enumerate(results)), results


def test_an_output_that_answers_differently_twice_is_refused_with_a_looser_rule_as_the_fix() -> None:
    with serve(ranker(noise=0.05)) as url, pytest.raises(ComponentError) as caught:
        record(url, synthesized({"ranker": _meta(url)}, 2), version="r1", manifest_sha256=SHA)
    message = str(caught.value)
    assert "ranker probe 0: score: " in message and "between two answers to the same request in a row" in message
    assert "--rule ranker/score=tolerance:" in message


def test_a_looser_rule_records_a_noisy_output() -> None:
    with serve(ranker(noise=1e-4)) as url:
        golden = record(url, synthesized({"ranker": _meta(url)}, 2), version="r1", manifest_sha256=SHA,
                        overrides={"ranker/score": Tolerance(abs=0.01, rel=0.0)})  # fmt: skip
    assert golden.rules["ranker"]["score"] == Tolerance(abs=0.01, rel=0.0)


def test_a_request_the_model_does_not_take_names_where_it_came_from() -> None:
    wrong = Request("ranker", (Tensor.from_numpy("features", np.zeros((1, 8), np.float32)),), where="trace.jsonl row 7")
    with serve(ranker()) as url, pytest.raises(SpecError) as caught:
        record(url, [wrong], version="r1", manifest_sha256=SHA)
    assert str(caught.value).startswith("trace.jsonl row 7: ranker: input features has shape [1, 8], the model takes [-1, 16]")


def test_metadata_of_a_model_the_node_does_not_serve_is_an_error_naming_it() -> None:
    with serve(ranker()) as url, pytest.raises(ComponentError) as caught:
        fetch_metadata(url, "reranker")
    assert f"{url} does not serve model reranker" in str(caught.value) and "refused" in str(caught.value)


def test_the_builtin_recommender_records_from_its_own_probes() -> None:
    requests = probe_requests(manifest("recommender"), {}, 5)
    assert [r.model for r in requests] == ["recommend"]  # one probe in this manifest, no search probe
    assert {t.name: t.array.tolist() for t in requests[0].inputs} == {"user_id": [[3]], "k": [[5]]}


@pytest.mark.parametrize("count", [0, 1001])
def test_a_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(SpecError, match=r"--count: .* \(fix: pass 1 to 1000\)"):
        probe_requests(manifest(), {}, count)


def test_the_node_recorded_from_is_a_ready_primary_node_or_the_one_named() -> None:
    status = _status([("primary-0", "primary", Health.DEAD), ("primary-1", "primary", Health.READY),
                      ("standby-0", "standby", Health.READY)])  # fmt: skip
    assert pick_node(status, "primary", None).name == "primary-1"
    assert pick_node(status, "primary", "standby-0").name == "standby-0"
    with pytest.raises(ComponentError, match="node primary-0 is dead, not ready"):
        pick_node(status, "primary", "primary-0")
    with pytest.raises(SpecError, match="no node nope in environment t"):
        pick_node(status, "primary", "nope")
    with pytest.raises(ComponentError, match="no node of region primary is ready"):
        pick_node(_status([("primary-0", "primary", Health.DEAD)]), "primary", None)


def _meta(url: str):  # type: ignore[no-untyped-def]
    meta = fetch_metadata(url, "ranker")
    assert meta.model_dump()["inputs"][0]["shape"] == tuple(METADATA["inputs"][0]["shape"])  # type: ignore[index]
    return meta


def _status(nodes: list[tuple[str, str, Health]]) -> EnvironmentStatus:
    components = tuple(ComponentStatus(name=n, kind=ComponentKind.NODE, region=r, health=h, endpoint="http://127.0.0.1:1",
                                       gateway_state="UP") for n, r, h in nodes)  # fmt: skip
    return EnvironmentStatus(environment="t", platform="fake", up=True, components=components)
