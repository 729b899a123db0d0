"""KServe v2 traces: any model's requests from JSON Lines or Parquet, read as untrusted input,
checked against the live models' metadata before a replay, replayed by the load generator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drillkit.errors import ExitCode, SpecError
from drillkit.load import check_served
from drillkit.plan import check_trace_workload
from drillkit.spec import ModelSpec, RegionRole, RegionSpec, WorkloadSpec
from drillkit.spec.environment import EnvironmentSpec
from drillkit.trace import read_trace, summarize, write_trace
from drillkit.workload.trace import encode_row, read_kserve, trace_requests, write_kserve
from tests.fakes.http import serve
from tests.fakes.ranker import ranker

REPO = Path(__file__).resolve().parents[2]


def features(seed: int, width: int = 16) -> dict[str, object]:
    data = np.random.default_rng(seed).standard_normal(width).astype(np.float32)
    return {"name": "features", "datatype": "FP32", "shape": [1, width], "data": [float(x) for x in data]}


def rows(n: int = 3, width: int = 16) -> list[dict[str, object]]:
    return [{"offset_s": 0.5 * (n - i), "model": "ranker", "inputs": [features(i, width)]} for i in range(n)]


def jsonl(tmp_path: Path, lines: list[object] | list[str]) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_jsonl_and_parquet_read_alike_sorted_by_offset(tmp_path: Path) -> None:
    trace = read_trace(write_kserve(rows(), tmp_path / "t.jsonl"))
    assert trace.format == "kserve" and trace.kinds() == {"ranker": 3}
    assert trace.frame["offset_s"].tolist() == [0.5, 1.0, 1.5] and trace.duration_s == 1.5
    parquet = read_trace(write_kserve(rows(), tmp_path / "t.parquet"))
    assert parquet.format == "kserve" and parquet.frame.equals(trace.frame)
    requests = trace_requests(trace)
    assert [r.model for r in requests] == ["ranker"] * 3 and requests[0].inputs[0].array.shape == (1, 16)
    assert requests[0].where.endswith("t.jsonl request 1")


def test_a_captured_body_and_a_pinned_version_are_kept(tmp_path: Path) -> None:
    body = {"inputs": [features(1)], "outputs": [{"name": "score"}]}
    path = jsonl(tmp_path, [{"offset_s": 0, "model": "ranker", "version": 2, "body": body},
                            {"offset_s": 1, "model": "ranker", "body": json.dumps(body)}])  # fmt: skip
    frame = read_kserve(path)
    assert frame["version"].tolist() == ["2", ""]
    assert frame["inputs"].iloc[0] == frame["inputs"].iloc[1]


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        ("{not json", "line 1", "not JSON"),
        ([1, 2], "line 1, -", "a row is a JSON object"),
        ({"offset_s": -1, "model": "ranker", "inputs": [features(0)]}, "line 1, offset_s", "must be a number 0.."),
        ({"offset_s": True, "model": "ranker", "inputs": [features(0)]}, "line 1, offset_s", "must be a number"),
        ({"offset_s": 1e300, "model": "ranker", "inputs": [features(0)]}, "line 1, offset_s", "must be a number"),
        ({"offset_s": 0, "model": "../etc", "inputs": [features(0)]}, "line 1, model", "is not a model name"),
        ({"offset_s": 0, "model": "ranker", "version": "latest", "inputs": [features(0)]}, "line 1, version", "not a Triton model version"),
        ({"offset_s": 0, "model": "ranker"}, "line 1, inputs", "give inputs or body"),
        ({"offset_s": 0, "model": "ranker", "inputs": [features(0)], "body": {}}, "line 1, inputs", "give inputs or body"),
        ({"offset_s": 0, "model": "ranker", "inputs": []}, "line 1, inputs", "a list of 1..64"),
        ({"offset_s": 0, "model": "ranker", "inputs": [features(0), features(1)]}, "line 1, inputs", "the same name"),
        ({"offset_s": 0, "model": "ranker", "inputs": [{**features(0), "shape": [1, 15]}]}, "line 1, inputs[0]", "15"),
        ({"offset_s": 0, "model": "ranker", "inputs": [{**features(0), "datatype": "FP128"}]}, "line 1, inputs[0]", "datatype"),
        ({"offset_s": 0, "model": "ranker", "body": {"instances": []}}, "line 1, body", "a KServe v2 request"),
        ({"offset_s": 0, "model": "ranker", "inputs": [features(0)], "headers": {}}, "line 1, headers", "unknown field"),
    ],
)
def test_a_bad_row_is_named_with_its_line_and_field(tmp_path: Path, line: object, field: str, problem: str) -> None:
    path = jsonl(tmp_path, [line] if not isinstance(line, str) else [line])  # type: ignore[list-item]
    with pytest.raises(SpecError) as caught:
        read_trace(path)
    assert caught.value.file == str(path) and caught.value.field == field, str(caught.value)
    assert problem in caught.value.problem, str(caught.value)


def test_a_bad_parquet_row_or_column_is_named(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "t.parquet"
    pd.DataFrame({"offset_s": [0.0, 1.0], "model": ["ranker", "ranker"], "inputs": [json.dumps([features(0)]), "{"]}).to_parquet(path)
    with pytest.raises(SpecError, match=r"row 2, column inputs: not JSON text"):
        read_trace(path)
    pd.DataFrame({"offset_s": [0.0], "model": ["ranker"], "inputs": ["[]"], "user": ["x"]}).to_parquet(path)
    with pytest.raises(SpecError, match=r"column user: not a KServe trace column"):
        read_trace(path)


def test_a_damaged_trace_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = jsonl(tmp_path, ['{"offset_s": 0, "model": "ranker", "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [1]}]}'])
    done = subprocess.run([sys.executable, "-m", "drillkit", "traffic", "stats", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.INVALID_INPUT
    assert "Traceback" not in done.stderr and "line 1, inputs[0]" in done.stderr


def test_traffic_stats_shows_a_kserve_trace_by_model(tmp_path: Path) -> None:
    path = write_kserve(rows(4), tmp_path / "t.jsonl")
    stats = summarize(read_trace(path))
    assert stats.format == "kserve" and stats.mix == {"ranker": 1.0} and stats.users == 0 and stats.top_queries == []
    done = subprocess.run([sys.executable, "-m", "drillkit", "traffic", "stats", str(path)], capture_output=True, text=True,
                          timeout=60, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(kserve): 4 requests" in done.stdout and "ranker 100.0%" in done.stdout and "top queries" not in done.stdout


def test_rows_the_live_model_would_refuse_are_named_before_any_load(tmp_path: Path) -> None:
    good = read_trace(write_kserve(rows(3), tmp_path / "good.jsonl"))
    wrong = read_trace(write_kserve([*rows(2), {"offset_s": 9, "model": "ranker", "inputs": [features(5, 8)]}], tmp_path / "w.jsonl"))
    other = read_trace(write_kserve([*rows(2), {"offset_s": 9, "model": "reranker", "inputs": [features(5)]}], tmp_path / "o.jsonl"))
    handler = ranker()
    with serve(handler) as url:
        check_served(good, url)
        with pytest.raises(SpecError, match=r"w\.jsonl: request 3, inputs: input features has shape \[1, 8\], the model takes \[-1, 16\]"):
            check_served(wrong, url)
        with pytest.raises(SpecError, match=r"o\.jsonl: request 3, model: the environment serves no model reranker"):
            check_served(other, url)
    assert handler.infers == 0  # metadata only: not one request was sent


def test_a_drill_plan_refuses_a_trace_for_other_models(tmp_path: Path) -> None:
    regions = (RegionSpec(name="a", role=RegionRole.PRIMARY, nodes=1), RegionSpec(name="b", role=RegionRole.STANDBY, nodes=1))
    mine = EnvironmentSpec(name="r", state_dir=tmp_path, regions=regions, model=ModelSpec(version="r1"),
                           workload=WorkloadSpec(repository=REPO / "tests/fixtures/ranker-repository"))  # fmt: skip
    builtin = EnvironmentSpec(name="b", state_dir=tmp_path, regions=regions)
    ranker_trace = read_trace(write_kserve(rows(2), tmp_path / "r.jsonl"))
    check_trace_workload(ranker_trace, mine, file="d.yaml")
    with pytest.raises(SpecError, match=r"r\.jsonl: request 1, model: the environment serves no model ranker \(fix: replay requests for recommend, search\)"):
        check_trace_workload(ranker_trace, builtin, file="d.yaml")
    recsys = read_trace(REPO / "loadtests/traces/drill.parquet")
    with pytest.raises(SpecError, match=r"d\.yaml: load\.trace: .* is a search/recommend trace; the environment serves the Triton repository"):
        check_trace_workload(recsys, mine, file="d.yaml")


def test_a_row_is_encoded_asking_for_every_output_as_binary(tmp_path: Path) -> None:
    trace = read_trace(write_kserve([{"offset_s": 0, "model": "ranker", "version": "3", "inputs": [features(0)]}], tmp_path / "t.jsonl"))
    frame = trace.frame
    request = encode_row(frame["kind"].iloc[0], frame["version"].iloc[0], frame["inputs"].iloc[0])  # what KserveRows sends
    head = json.loads(request.body[: int(request.headers["Inference-Header-Content-Length"])])
    assert request.path == "/v2/models/ranker/versions/3/infer" and request.outputs == ()
    assert head["parameters"] == {"binary_data_output": True} and head["inputs"][0]["shape"] == [1, 16]
    blob = request.body[int(request.headers["Inference-Header-Content-Length"]):]
    assert np.frombuffer(blob, np.float32).tolist() == pytest.approx(features(0)["data"])  # type: ignore[arg-type]
    recsys = write_trace(read_trace(REPO / "loadtests/traces/drill.parquet").frame.head(3), tmp_path / "r.parquet")
    assert read_trace(recsys).format == "recsys"
