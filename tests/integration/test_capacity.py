"""Capacity, scale-out and surges on the embedded stack, with a model whose nodes have a real
per-node limit: the ranker answering one request at a time (no dynamic batching), 10 ms each,
so one node serves about 90 requests/s however many cores the machine has. Regions of one node
each, both allowed to grow to two; the gateway queues past 4 requests a node and sheds past 8
waiting; the autoscaler adds a node when users' p99 stays over 60 ms for a second.

- the capacity drill finds the standby's knee twice, within 25 %, and the history keeps it
  for the next drill's pre-check;
- a region scales out and back in, live, under load, without a failed request;
- the surge drills (the shipped experiments) run end to end with their PDFs, the autoscaler
  scaling the serving region out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from pypdf import PdfReader

from drillkit.drill import run_drill
from drillkit.plan import plan_drill
from drillkit.platforms.base import Health
from drillkit.platforms.local import LocalPlatform
from drillkit.report.history import History
from drillkit.request_log import read_request_log
from drillkit.spec import GatewaySpec, ModelSpec, RegionRole, RegionSpec, WorkloadSpec
from drillkit.spec.autoscale import AutoscaleSpec
from drillkit.spec.environment import EnvironmentSpec
from drillkit.workload.trace import write_kserve
from tests.integration.conftest import running_from_file
from tests.schema import assert_valid_journal

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RANKER = REPO / "tests/fixtures/ranker-repository"
PRIMARY, STANDBY = "us-east-1", "eu-west-1"


def one_at_a_time(folder: Path) -> Path:
    """The ranker without dynamic batching, 10 ms an answer: a node with a fixed capacity."""
    out = folder / "ranker-serial"
    shutil.copytree(RANKER, out)
    config = out / "ranker" / "config.pbtxt"
    config.write_text(config.read_text().replace("dynamic_batching { max_queue_delay_microseconds: 500 }\n", ""))
    model = out / "ranker" / "1" / "model.py"
    model.write_text(model.read_text().replace("    def execute(self, requests):\n",
                                               "    def execute(self, requests):\n        import time\n        time.sleep(0.01)\n"))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One reports folder for the module: its history keeps the knees for the later drills."""
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def elastic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPlatform, Path]]:
    folder = tmp_path_factory.mktemp("elastic")
    spec = EnvironmentSpec(
        name="elastic-test",
        state_dir=folder / "state",
        regions=(RegionSpec(name=PRIMARY, role=RegionRole.PRIMARY, nodes=1, max_nodes=2),
                 RegionSpec(name=STANDBY, role=RegionRole.STANDBY, nodes=1, max_nodes=2)),  # fmt: skip
        gateway=GatewaySpec(check_interval_ms=100, fall=1, rise=1, error_limit=1, check_timeout_ms=150, connect_timeout_ms=20,
                            maxconn_per_node=4, max_queue=8, queue_timeout_ms=2000),  # fmt: skip
        model=ModelSpec(version="s1"),
        workload=WorkloadSpec(repository=one_at_a_time(folder)),
        autoscale=AutoscaleSpec(above_ms=60, for_s=1, window_s=1, cooldown_s=5, interval_s=0.25),
    )
    with running_from_file(spec, folder) as running:
        recorded = subprocess.run([sys.executable, "-m", "drillkit", "golden", "record", "--env", str(running[1]), "--count", "4"],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        assert recorded.returncode == 0, recorded.stderr
        yield running


def trace(path: Path, *, rate: float = 30.0, seconds: float = 90.0) -> Path:
    rng = np.random.default_rng(5)
    rows = [{"offset_s": round(i / rate, 4), "model": "ranker",
             "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 16],
                         "data": [round(float(x), 3) for x in rng.standard_normal(16)]}]}
            for i in range(int(rate * seconds))]  # fmt: skip
    return write_kserve(rows, path)


def renamed(source: str, folder: Path, pauses: dict[str, float] | None = None, **arguments: object) -> Path:
    """A shipped experiment aimed at this environment (regions named as a user names them),
    with other arguments and pauses (by activity name) where given."""
    data = json.loads((REPO / "chaos" / source).read_text())
    for activity in data["method"]:
        args = activity["provider"].get("arguments") or {}
        if "region" in args:
            args["region"] = {"primary": PRIMARY, "standby": STANDBY}[args["region"]]
        args.update(arguments.get(activity["name"], {}))  # type: ignore[arg-type]
        if activity["name"] in (pauses or {}):
            activity["pauses"] = {"after": (pauses or {})[activity["name"]]}
    path = folder / source
    path.write_text(json.dumps(data))
    return path


def drill(folder: Path, env_file: Path, name: str, experiment: Path, **spec: object) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "environment": str(env_file), "experiment": str(experiment), "bring_up": False,
        "load": {"trace": str(trace(folder / "ranker.jsonl")), "warmup_s": 3, "cooldown_s": 2},
        "recovery": {"rto_budget_s": 30, "stable_for_s": 2}, **spec,
    }))  # fmt: skip
    return path


def test_the_capacity_drill_finds_the_standbys_knee_twice_within_25_percent(elastic: tuple[LocalPlatform, Path], reports: Path,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    platform, env_file = elastic
    ramp = {"ramp-primary": {"region": STANDBY, "start_rps": 60, "growth": 1.12, "max_rps": 125, "step_s": 1.5}}
    experiment = renamed("capacity.json", tmp_path, **ramp)
    data = json.loads(experiment.read_text())
    data["method"] = data["method"][:1]  # the standby's knee: what a failover needs
    experiment.write_text(json.dumps(data))
    knees = []
    for _ in range(2):
        spec = {"load": {"trace": str(trace(tmp_path / "light.jsonl", rate=5)), "warmup_s": 2, "cooldown_s": 1},
                "capacity": {"min_knee_rps": {STANDBY: 40}}, "fail_on": {"capacity": False}}  # fmt: skip
        result = run_drill(plan_drill(drill(tmp_path, env_file, "capacity", experiment, **spec)), reports=reports)
        journal = assert_valid_journal(result.run_dir / "journal.json")
        (curve,) = journal["capacity_curve"]["regions"]
        steps = curve["steps"]
        assert curve["region"] == STANDBY and curve["limited_by"] == "slo", curve
        assert [s["offered_rps"] for s in steps][:3] == [60.0, 67.2, 75.3] and not any(s["generator_limited"] for s in steps[:6])
        assert all(s["within_slo"] for s in steps if s["offered_rps"] <= curve["knee_rps"])
        past = next(s for s in steps if not s["within_slo"])  # one node, one request at a time: past ~90/s it queues
        assert past["p99_ms"] > 250 or past["error_ratio"] > 0.01 or past["achieved_rps"] < 0.9 * past["offered_rps"], past
        checks = {c["name"]: c["verdict"] for c in journal["checks"]}
        assert checks[f"knee:{STANDBY}"] == "PASS" and "recovery" not in checks and result.exit_code == 0, journal["checks"]
        assert "latency against offered load" in PdfReader(str(result.run_dir / "report.pdf")).pages[2].extract_text()
        knees.append(curve["knee_rps"])
    assert 40 <= min(knees) and max(knees) <= 1.25 * min(knees), knees  # reproduces within 25 %
    stored = History(reports / "history.sqlite").latest_knee("elastic-test", STANDBY)
    assert stored is not None and stored.knee_rps == knees[-1] and stored.nodes == 1 and stored.limited_by == "slo"


def test_a_region_scales_out_and_back_in_under_load_without_a_failed_request(elastic: tuple[LocalPlatform, Path], reports: Path,
                                                                             tmp_path: Path) -> None:  # fmt: skip
    platform, env_file = elastic
    experiment = {
        "version": "1.0.0", "title": "scale the primary out and back in", "description": "one node more, live, then the rollback",
        "method": [{"type": "action", "name": "scale-out", "pauses": {"after": 4},
                    "provider": {"type": "python", "module": "drillkit.chaos.actions", "func": "scale_out",
                                 "arguments": {"region": PRIMARY, "nodes": 2}}}],
        "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "python", "module": "drillkit.chaos.actions",
                                                                      "func": "rollback_all"}}],
    }  # fmt: skip
    (tmp_path / "scale.json").write_text(json.dumps(experiment))
    spec = {"slos": [{"name": "errors", "kind": "error_ratio", "max_ratio": 0.05, "window_s": 3}]}
    result = run_drill(plan_drill(drill(tmp_path, env_file, "scale", tmp_path / "scale.json", **spec)), reports=reports)
    journal = assert_valid_journal(result.run_dir / "journal.json")
    knee = History(reports / "history.sqlite").latest_knee("elastic-test", STANDBY)
    if knee is not None:  # the capacity drill ran first: the pre-check reports the standby's measured knee and its age
        report = journal["capacity"]
        assert report["standby_knee_rps"] == knee.knee_rps and 0 < report["standby_knee_age_s"] < 900 and report["standby_knee_nodes"] == 1
    out = next(e["output"] for e in journal["timeline"] if e["event"] == "activity_ended" and e["func"] == "scale_out")
    assert (out["from_nodes"], out["to_nodes"], out["nodes"]) == (1, 2, [f"{PRIMARY}-1"]) and out["time_to_scale_s"] < 60
    log = read_request_log(result.run_dir / "request_log")
    assert (log["node"] == f"{PRIMARY}-1").sum() > 10  # the new node served users
    assert len(log) > 300 and (log["outcome"] != "ok").sum() == 0  # not one request failed or was shed, out or in
    undo = next(e["output"] for e in journal["timeline"] if e["event"] == "activity_ended" and e["func"] == "rollback_all")
    assert [(u["undo"], u["note"]) for u in undo["undone"]] == [("scale_region", f"{PRIMARY}: 2 -> 1 nodes")]  # drained, then ended
    assert platform.node_names(PRIMARY) == [f"{PRIMARY}-0"] and all(n.health is Health.READY for n in platform.status().nodes())


def test_the_surge_drills_scale_the_serving_region_out_and_write_their_reports(elastic: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = elastic
    surge = drill(tmp_path, env_file, "surge", renamed("surge-3x.json", tmp_path, {"surge-3x": 12}, **{"surge-3x": {"duration_s": 12}}),
                  scaling={"expect_scale_out": True, "max_time_to_scale_s": 60})  # fmt: skip
    result = run_drill(plan_drill(surge), reports=tmp_path / "r")
    journal = assert_valid_journal(result.run_dir / "journal.json")
    (out, *_) = journal["scaling"]["scale_outs"]
    assert out["region"] == PRIMARY and (out["from_nodes"], out["to_nodes"]) == (1, 2) and out["trigger_p99_ms"] > 60, out
    assert 0 < out["time_to_scale_s"] < 60 and out["first_request_s"] is not None
    checks = {c["name"]: c["verdict"] for c in journal["checks"]}
    assert checks["scale_out"] == checks["time_to_scale"] == "PASS", journal["checks"]
    m = journal["measurements"]
    assert m["requests"] > 1000 and m["shed_requests"] + m["failed_requests"] < 0.5 * m["requests"], m
    text = " ".join(page.extract_text() for page in PdfReader(str(result.run_dir / "report.pdf")).pages)
    assert "Scaling" in text and f"{PRIMARY} 1->2 nodes" in text
    assert platform.node_names(PRIMARY) == [f"{PRIMARY}-0"]  # scaled back in by the rollback

    failover = drill(tmp_path, env_file, "failover-under-surge", renamed("failover-under-surge.json", tmp_path,
                     {"surge-3x": 4, "crash-primary-region": 8}, **{"surge-3x": {"duration_s": 14}}),
                     scaling={"expect_scale_out": False})  # fmt: skip
    result = run_drill(plan_drill(failover), reports=tmp_path / "r")
    journal = assert_valid_journal(result.run_dir / "journal.json")
    assert [f["fault"] for f in (e["output"] for e in journal["timeline"] if e["event"] == "activity_ended"
                                  and isinstance(e.get("output"), dict) and "injected_at" in e["output"])] == ["surge", "region_outage"]  # fmt: skip
    served = read_request_log(result.run_dir / "request_log")
    assert set(served.loc[served["outcome"] == "ok", "region"]) >= {STANDBY}  # the standby took the surge
    assert (result.run_dir / "report.pdf").stat().st_size > 1000 and journal["measurements"]["requests"] > 1000
    assert {n.name for n in platform.status().nodes()} == {f"{PRIMARY}-0", f"{STANDBY}-0"}
