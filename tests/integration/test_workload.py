"""A user's own model on the embedded stack: the fixture ranker, a standard Triton repository.

The nodes are the bundled ``tritonserver`` serving tests/fixtures/ranker-repository (Python
backend); the golden answers are recorded from a healthy node with ``drillkit golden record``
and then judge every node, the gateway, and the gateway's own deep health check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from drillkit.drill import run_drill
from drillkit.errors import ExitCode
from drillkit.gate import gate
from drillkit.plan import plan_drill
from drillkit.platforms.base import Health
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.local_state import load_state
from drillkit.request_log import read_request_log
from drillkit.spec import GatewaySpec, ModelSpec, RegionRole, RegionSpec, WorkloadSpec
from drillkit.spec.environment import EnvironmentSpec
from drillkit.spec.policy import Policy
from drillkit.workload.golden import golden_of
from drillkit.workload.trace import write_kserve
from tests.integration.conftest import running_from_file

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RANKER = REPO / "tests/fixtures/ranker-repository"


@pytest.fixture(scope="module")
def ranker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPlatform, Path]]:
    """The ranker in two regions of one node each, and its environment file."""
    folder = tmp_path_factory.mktemp("ranker")
    spec = EnvironmentSpec(
        name="ranker",
        state_dir=folder / "state",
        regions=(RegionSpec(name="us-east-1", role=RegionRole.PRIMARY, nodes=1),
                 RegionSpec(name="eu-west-1", role=RegionRole.STANDBY, nodes=1)),  # fmt: skip
        gateway=GatewaySpec(check_interval_ms=100, fall=1, rise=1, error_limit=1, check_timeout_ms=150, connect_timeout_ms=20),
        model=ModelSpec(version="r1"),
        workload=WorkloadSpec(repository=RANKER),
    )
    with running_from_file(spec, folder) as running:
        yield running


def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, timeout=180, check=False)


def test_the_ranker_serves_in_both_regions_with_no_golden_answers_yet(ranker: tuple[LocalPlatform, Path]) -> None:
    platform, env_file = ranker
    status = platform.status()
    assert status.up and all(n.health is Health.READY and n.gateway_state == "UP" for n in status.nodes())
    assert load_state(platform.state_path).models == ("ranker",)  # type: ignore[union-attr]
    checked = drillkit("golden", "check", "--env", str(env_file))
    assert checked.returncode == ExitCode.INVALID_INPUT, checked.stderr
    assert "has no golden answers" in checked.stderr and "drillkit golden record --env ENV" in checked.stderr


def test_golden_record_takes_a_nodes_answers_and_puts_them_everywhere(ranker: tuple[LocalPlatform, Path]) -> None:
    platform, env_file = ranker
    gateway_url = platform.status().gateway_url
    done = drillkit("golden", "record", "--env", str(env_file), "--count", "4", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["node"] == "us-east-1-0" and report["probes"] == 4 and report["models"] == ["ranker"]
    assert report["rules"]["ranker"] == {"score": {"rule": "tolerance", "abs": 1e-6, "rel": 1e-3},
                                         "top_features": {"rule": "exact"}}  # fmt: skip
    cache = platform.spec.state_dir / "models" / "r1"
    regions = [platform.region_repository(r) / "r1" for r in ("us-east-1", "eu-west-1")]
    assert sorted(report["written"]) == sorted(str(d / "golden.json") for d in (cache, *regions))
    golden = golden_of(cache)
    assert [len(golden_of(d).probes) for d in regions] == [4, 4]
    # The gateway was restarted on its port, its deep check now the first golden probe
    assert platform.status().gateway_url == gateway_url
    config = (platform.root / "haproxy.cfg").read_text()
    assert "/v2/models/ranker/infer" in config and '"name":"features"' in config
    assert all(n.gateway_state == "UP" for n in platform.status().nodes())
    state = load_state(platform.state_path)
    assert state is not None and state.try_timeouts is not None and set(state.try_timeouts.models) == {"ranker"}
    assert golden.probes[0].inputs[0].array.shape == (1, 16)


def test_golden_check_and_smoke_judge_every_node_and_the_gateway(ranker: tuple[LocalPlatform, Path]) -> None:
    _, env_file = ranker
    checked = drillkit("golden", "check", "--env", str(env_file), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    results = json.loads(checked.stdout)
    assert {r["node"] for r in results} == {"us-east-1-0", "eu-west-1-0"} and all(r["ok"] for r in results)
    smoke = drillkit("smoke", "--env", str(env_file), "--json")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert {r["region"] for r in json.loads(smoke.stdout)} == {"us-east-1"}


def ranker_trace(path: Path, *, seconds: float = 45.0, rate: float = 50.0) -> Path:
    """The ranker's requests, one every 1/rate s: what `drillkit traffic import` writes from a capture."""
    rng = np.random.default_rng(7)
    rows = [{"offset_s": round(i / rate, 4), "model": "ranker",
             "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 16],
                         "data": [round(float(x), 4) for x in rng.standard_normal(16)]}]}
            for i in range(int(seconds * rate))]  # fmt: skip
    return write_kserve(rows, path)


def test_a_region_outage_of_the_ranker_is_measured_judged_and_gated(ranker: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = ranker
    data = json.loads((REPO / "chaos/region-outage.json").read_text())
    for activity in [*data["method"], *(data.get("steady-state-hypothesis") or {}).get("probes", [])]:
        arguments = activity.get("provider", {}).get("arguments")
        if arguments and "region" in arguments:
            arguments["region"] = {"primary": "us-east-1", "standby": "eu-west-1"}[arguments["region"]]
    data["method"][0]["pauses"] = {"after": 4}
    experiment = tmp_path / "region-outage.json"
    experiment.write_text(json.dumps(data))
    drill = tmp_path / "ranker-outage.yaml"
    drill.write_text(yaml.safe_dump({
        "name": "ranker-outage", "environment": str(env_file), "experiment": str(experiment),
        "load": {"trace": str(ranker_trace(tmp_path / "ranker.jsonl")), "warmup_s": 3, "cooldown_s": 3},
        "recovery": {"rto_budget_s": 5, "stable_for_s": 2}, "bring_up": False,
        "slos": [{"name": "errors", "kind": "error_ratio", "max_ratio": 0.05, "window_s": 3}],
    }))  # fmt: skip
    result = run_drill(plan_drill(drill), reports=tmp_path / "reports")
    journal = json.loads((result.run_dir / "journal.json").read_text())
    m = journal["measurements"]
    assert m["requests"] > 400 and isinstance(m["rto_s"], float) and m["rto_s"] <= 5.0, (m, journal["checks"])
    checks = {c["name"]: c["verdict"] for c in journal["checks"]}
    assert checks["rollback"] == "PASS" and checks["recovery"] == "PASS", checks
    assert journal["capacity"]["ok"] and journal["capacity"]["same_model"], journal["capacity"]
    canary = [e for e in journal["timeline"] if e["event"] == "canary"]
    assert canary and all(e.get("wrong") is None for e in canary if e.get("error") is None), canary[:3]
    kinds = read_request_log(result.run_dir / "request_log")["kind"].unique().tolist()
    assert kinds == ["ranker"]  # the load generator labels each request with its model
    assert (result.run_dir / "report.pdf").stat().st_size > 1000
    verdict = gate(result.run_dir, Policy())
    assert verdict.passed, [(r.rule, r.detail) for r in verdict.failures]
    assert all(n.health is Health.READY for n in platform.status().nodes())
