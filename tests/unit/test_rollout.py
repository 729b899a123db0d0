"""The rollout engine against fake nodes at the KServe seam: the canary's comparison, the
decision, the rollback, the golden answers recorded for a release, and the answer audit.

Each "node" is a FakeRanker HTTP server on 127.0.0.1:0; versions are servers (``shift``: a
model that answers differently, ``delay``: a slower one). ``FakePlatform`` keeps which
version each node serves, as the platforms' ``set_node_version`` does, and refuses a version
it is told to fail, as a node that cannot load a damaged copy does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drillkit.answer_log import AnswerLogWriter, AnswerRecord
from drillkit.errors import ModelRepositoryError
from drillkit.model.client import InferenceClient
from drillkit.platforms.base import ComponentKind, ComponentStatus, EnvironmentStatus, Health, NodeSwitch
from drillkit.request_log import RequestLogWriter, RequestRecord
from drillkit.rollout.audit import audit
from drillkit.rollout.compare import compare
from drillkit.rollout.engine import Rollout, judge, plan_rollout
from drillkit.rollout.report import Comparison
from drillkit.rollout.sample import sample_requests
from drillkit.spec import EnvironmentSpec, ModelSpec, RegionRole, RegionSpec, WorkloadSpec, model_cache
from drillkit.spec.rollout import RolloutPolicy
from drillkit.trace import read_trace
from drillkit.undo import UndoLog
from drillkit.workload.golden import golden_of, load_golden, write_golden
from drillkit.workload.repository import snapshot
from drillkit.workload.requests import rows_of
from drillkit.workload.trace import write_kserve
from tests.fakes.http import serve
from tests.fakes.ranker import ranker
from tests.unit.test_kubernetes_workload import RANKER, ranker_golden

VERSIONS = {"r1": {}, "r2": {}, "r3-bad": {"shift": 1.5}, "r4-slow": {"delay": 0.03}, "r5-broken": {}}


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """One fake node per model version, by version."""
    with ExitStack() as stack:
        yield {v: stack.enter_context(serve(ranker(**kw))) for v, kw in VERSIONS.items()}


class FakePlatform:
    """The parts of the Platform protocol a rollout uses, over the fake nodes."""

    def __init__(self, tmp: Path, servers: dict[str, str], *, refuse: str = "") -> None:
        self.name = "fake"
        self.spec = EnvironmentSpec(name="fake", state_dir=tmp / "state", model=ModelSpec(version="r1"),
                                    regions=(RegionSpec(name="us-east-1", role=RegionRole.PRIMARY, nodes=2),
                                             RegionSpec(name="eu-west-1", role=RegionRole.STANDBY, nodes=1)),
                                    workload=WorkloadSpec(repository=RANKER))  # fmt: skip
        self.servers, self.refuse = servers, refuse
        self.serving = {n: "r1" for n in ("us-east-1-0", "us-east-1-1", "eu-west-1-0")}
        self.moves: list[tuple[str, str]] = []
        self.published: list[str] = []
        self.adopted: list[str] = []
        self._undo = UndoLog(tmp / "undo.jsonl")
        for version in VERSIONS:
            folder = snapshot(RANKER, model_cache(self.spec), version, created_at="2026-12-07T00:00:00Z")
            if version == "r1":
                write_golden(folder, ranker_golden(folder))

    def status(self) -> EnvironmentStatus:
        nodes = tuple(ComponentStatus(name=n, kind=ComponentKind.NODE, region=n.rsplit("-", 1)[0], health=Health.READY,
                                      endpoint=self.servers[v], gateway_state="UP", version=v)
                      for n, v in self.serving.items())  # fmt: skip
        return EnvironmentStatus(environment="fake", platform="local", up=True, components=nodes)

    def rollout_order(self) -> list[str]:
        return list(self.serving)

    def publish_version(self, version: str) -> list[str]:
        self.published.append(version)
        return ["us-east-1", "eu-west-1"]

    def set_node_version(self, node: str, version: str) -> NodeSwitch:
        self.moves.append((node, version))
        if version == self.refuse:
            raise ModelRepositoryError(f"{version}/manifest.json does not match: refused")
        self.serving[node] = version
        return NodeSwitch(node, version, 1.0, 2.0, 3.0, 4.0)

    def adopt_golden(self, golden: Any) -> list[Path]:
        self.adopted.append(golden.version)
        return []

    def undo_log(self) -> UndoLog:
        return self._undo


def kserve_trace(path: Path, count: int = 60) -> Path:
    rng = np.random.default_rng(3)
    rows = [{"offset_s": i / 10, "model": "ranker",
             "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 16], "data": rng.standard_normal(16).round(3).tolist()}]}
            for i in range(count)]  # fmt: skip
    return write_kserve(rows, path)


def run(platform: FakePlatform, version: str, tmp: Path, **policy: Any) -> Any:
    plan = plan_rollout(platform, version, source="env.yaml")  # type: ignore[arg-type]
    golden = golden_of(model_cache(platform.spec) / "r1")
    requests = sample_requests(golden, 40, trace=kserve_trace(tmp / "t.jsonl"))
    settings = RolloutPolicy(bake_s=0, compare_requests=40, **policy)
    return Rollout(platform, plan, policy=settings, requests=requests, sleep=lambda s: None).run()  # type: ignore[arg-type]


def test_a_release_that_answers_the_same_rolls_out_and_gets_golden_answers_from_its_canary(servers: dict[str, str], tmp_path: Path) -> None:
    platform = FakePlatform(tmp_path, servers)
    report = run(platform, "r2", tmp_path)
    assert report.outcome == "completed" and report.decision == "proceed" and report.reasons == []
    assert platform.moves == [("us-east-1-0", "r2"), ("us-east-1-1", "r2"), ("eu-west-1-0", "r2")]
    assert report.comparison.canary == "us-east-1-0" and report.comparison.reference == "us-east-1-1"
    assert report.comparison.answered == 40 and report.comparison.wrong == 0  # a KServe trace: every output compared
    recorded = load_golden(model_cache(platform.spec) / "r2", golden_of(model_cache(platform.spec) / "r2").manifest_sha256)
    assert recorded is not None and len(recorded.probes) == 1 and platform.adopted == ["r2"]
    assert recorded.rules["ranker"]["score"] == golden_of(model_cache(platform.spec) / "r1").rules["ranker"]["score"]
    (entry,) = platform.undo_log().pending()  # the undo was recorded before the first node moved
    assert (entry.undo, entry.args) == ("restore_versions", {"version": "r1", "nodes": ["us-east-1-0", "us-east-1-1", "eu-west-1-0"]})


def test_a_release_that_answers_wrongly_is_rolled_back_from_its_canary(servers: dict[str, str], tmp_path: Path) -> None:
    platform = FakePlatform(tmp_path, servers)
    report = run(platform, "r3-bad", tmp_path)
    assert report.outcome == "rolled_back" and platform.moves == [("us-east-1-0", "r3-bad"), ("us-east-1-0", "r1")]
    assert report.comparison.wrong == 40 and report.reasons[0].startswith("wrong answers: 40 of 40 (100.0%) above 1.0%")
    assert "score: 1 of 1 values off" in report.reasons[0]
    assert report.time_to_rollback_s is not None and report.time_to_detect_s is not None
    assert platform.serving == {"us-east-1-0": "r1", "us-east-1-1": "r1", "eu-west-1-0": "r1"}
    assert not (model_cache(platform.spec) / "r3-bad" / "golden.json").exists()  # a rejected release gets no golden answers


def test_a_slower_release_is_rolled_back_on_its_latency(servers: dict[str, str], tmp_path: Path) -> None:
    platform = FakePlatform(tmp_path, servers)
    report = run(platform, "r4-slow", tmp_path, latency_floor_ms=5.0)
    assert report.outcome == "rolled_back" and report.comparison.wrong == 0
    assert report.reasons and all(r.startswith("latency: ") for r in report.reasons), report.reasons
    assert report.comparison.p50_ms_new >= 30 > report.comparison.p50_ms_old


def test_a_node_that_cannot_serve_the_release_rolls_it_back_with_the_reason(servers: dict[str, str], tmp_path: Path) -> None:
    platform = FakePlatform(tmp_path, servers, refuse="r5-broken")
    report = run(platform, "r5-broken", tmp_path)
    assert report.outcome == "rolled_back" and report.comparison is None
    assert report.reasons == ["us-east-1-0 could not serve r5-broken: r5-broken/manifest.json does not match: refused"]
    assert [(s.node, s.version, s.role, s.error is not None) for s in report.steps] == [
        ("us-east-1-0", "r5-broken", "canary", True), ("us-east-1-0", "r1", "rollback", False)]  # fmt: skip


def test_a_rollout_starts_from_one_version(servers: dict[str, str], tmp_path: Path) -> None:
    from drillkit.errors import SpecError

    platform = FakePlatform(tmp_path, servers)
    platform.serving["eu-west-1-0"] = "r2"
    with pytest.raises(SpecError, match="the nodes serve several versions \\(r1, r2\\)"):
        plan_rollout(platform, "r3-bad", source="env.yaml")  # type: ignore[arg-type]
    platform.serving["eu-west-1-0"] = "r1"
    with pytest.raises(SpecError, match="every node already serves r1"):
        plan_rollout(platform, "r1", source="env.yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("numbers", "reason"),
    [
        ({"wrong": 1, "answered": 200}, None),  # 0.5% <= 1%
        ({"wrong": 3, "answered": 200}, "wrong answers: 3 of 200 (1.5%)"),
        ({"errors_new": 3}, "errors: 3 of 200 (1.5%)"),
        ({"p50_ms_old": 2.0, "p50_ms_new": 19.0}, None),  # under 2 x the 10 ms floor: noise, not a slowdown
        ({"p50_ms_old": 2.0, "p50_ms_new": 21.0}, "latency: p50 21.0 ms against 2.0 ms"),
        ({"p99_ms_old": 40.0, "p99_ms_new": 81.0}, "latency: p99 81.0 ms against 40.0 ms"),  # a comparison without a tail
        # 200 requests: the tail judged is the p95; their p99 (two slow pairs) is reported, not judged
        ({"tail_quantile": 0.95, "tail_ms_old": 4.0, "tail_ms_new": 6.0, "p99_ms_old": 4.0, "p99_ms_new": 140.0}, None),
        ({"tail_quantile": 0.95, "tail_ms_old": 30.0, "tail_ms_new": 61.0}, "latency: p95 61.0 ms against 30.0 ms"),
    ],
)
def test_the_policy_bounds(numbers: dict[str, float], reason: str | None) -> None:
    base = {"reference": "a", "canary": "b", "started_at": 0.0, "ended_at": 1.0, "requests": 200, "answered": 200, "wrong": 0,
            "errors_old": 0, "errors_new": 0, "p50_ms_old": 2.0, "p50_ms_new": 2.0, "p99_ms_old": 4.0, "p99_ms_new": 4.0}  # fmt: skip
    reasons = judge(RolloutPolicy(), Comparison.model_validate({**base, **numbers}))
    assert (reasons[0].startswith(reason) if reason else reasons == []), reasons


def test_compare_counts_errors_and_judges_only_answers(servers: dict[str, str], tmp_path: Path) -> None:
    golden = golden_of(FakePlatform(tmp_path, servers).spec.state_dir / "models" / "r1")
    requests = sample_requests(golden, 12, trace=kserve_trace(tmp_path / "t.jsonl"))
    gone = "http://127.0.0.1:9"  # nothing listens: every request to it fails
    result = compare(("old", servers["r1"]), ("new", gone), requests, golden, concurrency=3)
    assert (result.requests, result.answered, result.wrong, result.errors_new, result.errors_old) == (12, 0, 0, 12, 0)
    assert result.first_error_new is not None and result.p99_ms_new is None


def test_the_audit_counts_exactly_the_wrong_answers_users_got(servers: dict[str, str], tmp_path: Path) -> None:
    """Users got rows 0..9 from r3-bad (wrong) and rows 10..14 from r2 (right); rows 15.. from r1."""
    golden = golden_of(FakePlatform(tmp_path, servers).spec.state_dir / "models" / "r1")
    trace = kserve_trace(tmp_path / "t.jsonl", count=20)
    rows = rows_of(read_trace(trace))
    run_dir = tmp_path / "run"
    log, answers = RequestLogWriter(run_dir / "request_log", worker="w"), AnswerLogWriter(run_dir / "answers", worker="w", limit=12)
    for i in range(20):
        version = "r3-bad" if i < 10 else ("r2" if i < 15 else "r1")
        client = InferenceClient(servers[version])
        request = rows.request(i)
        status, headers, body = client._exchange(request)
        client.close()
        log.append(RequestRecord(i, "ranker", float(i), float(i), 0.001, "ok", "", 200, "us-east-1", "n", "w", version))
        if version != "r1":
            answers.append(AnswerRecord(i, version, body, int(headers["inference-header-content-length"])))
    log.flush(), answers.flush()
    result = audit(run_dir, trace, ("us-east-1-1", servers["r1"]), golden, reference_version="r1", concurrency=2)
    assert result.served == {"r2": 5, "r3-bad": 10}
    assert (result.audited, result.wrong, result.unaudited) == (12, 10, 3)  # the kept-answer bound: 12 of 15
    assert result.first_wrong is not None and result.first_wrong.startswith("row ") and "score" in result.first_wrong


def test_recover_puts_back_the_nodes_a_killed_rollout_left_on_the_release(servers: dict[str, str], tmp_path: Path) -> None:
    from drillkit.chaos.undo import undo_pending

    platform = FakePlatform(tmp_path, servers)
    platform.undo_log().record("rollout_version", "restore_versions", {"version": "r1", "nodes": list(platform.serving)})
    platform.serving["us-east-1-0"] = "r3-bad"  # the runner died after the canary moved
    (undone,) = undo_pending(platform, faults_only=False)  # type: ignore[arg-type]
    assert undone["error"] is None and undone["note"] == "moved back to r1: us-east-1-0"
    assert platform.moves == [("us-east-1-0", "r1")] and set(platform.serving.values()) == {"r1"}
    assert undo_pending(platform) == []  # type: ignore[arg-type]
