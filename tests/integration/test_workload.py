"""A user's own model on the embedded stack: the fixture ranker, a standard Triton repository.

The nodes are the bundled ``tritonserver`` serving tests/fixtures/ranker-repository (Python
backend), in regions named as a user names them. The golden answers are recorded from a
healthy node with ``drillkit golden record`` and then judge every node, the gateway, the
gateway's own deep health check and restores. The drills replay traffic imported with
``drillkit traffic import`` from a HAR file and a GoReplay file written here as those tools
write them: a region outage, a node crash and a data-loss restore, each with its PDF and gate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drillkit.backup import store_for
from drillkit.drill import run_drill
from drillkit.errors import ExitCode
from drillkit.gate import gate
from drillkit.plan import plan_drill
from drillkit.platforms.base import Health
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.local_state import load_state
from drillkit.request_log import read_request_log
from drillkit.spec import BackupSpec, GatewaySpec, ModelSpec, RegionRole, RegionSpec, StoreSpec, WorkloadSpec
from drillkit.spec.environment import EnvironmentSpec
from drillkit.spec.policy import Policy
from drillkit.workload.golden import fingerprint, golden_of
from tests.captures import COOKIE, SECRET, Sent, gor_request, gor_response, ranker_traffic, write_gor, write_har
from tests.integration.conftest import running_from_file
from tests.schema import assert_valid_journal

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RANKER = REPO / "tests/fixtures/ranker-repository"


@pytest.fixture(scope="module")
def ranker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPlatform, Path]]:
    """The ranker on two nodes in us-east-1 and one in eu-west-1, backed up to another
    region's store (the scheduler's baseline is taken at up, before any golden answers)."""
    folder = tmp_path_factory.mktemp("ranker")
    spec = EnvironmentSpec(
        name="ranker",
        state_dir=folder / "state",
        regions=(RegionSpec(name="us-east-1", role=RegionRole.PRIMARY, nodes=2),
                 RegionSpec(name="eu-west-1", role=RegionRole.STANDBY, nodes=1)),  # fmt: skip
        gateway=GatewaySpec(check_interval_ms=100, fall=1, rise=1, error_limit=1, check_timeout_ms=150, connect_timeout_ms=20),
        model=ModelSpec(version="r1"),
        workload=WorkloadSpec(repository=RANKER),
        backup=BackupSpec(every=3600, store=StoreSpec(path=folder / "other-region-store")),
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
    assert {r["node"] for r in results} == {"us-east-1-0", "us-east-1-1", "eu-west-1-0"} and all(r["ok"] for r in results)
    smoke = drillkit("smoke", "--env", str(env_file), "--json")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert {r["region"] for r in json.loads(smoke.stdout)} == {"us-east-1"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:  # type: ignore[type-arg]
    """Traces imported through the CLI from a HAR file and a GoReplay file of the ranker's
    traffic (50 req/s for 45 s, JSON and binary bodies, with credentials and stray requests)."""
    folder = tmp_path_factory.mktemp("captures")
    sent = ranker_traffic(1_796_000_000.0, seconds=45, rate=50)
    stray = [Sent(sent[0].at + 0.5, "/v2/health/ready", b"", method="GET"),
             Sent(sent[0].at + 1.5, "/v2/models/ranker/infer", b"{broken")]  # fmt: skip
    captures = {"har": write_har(folder / "shop.har", [*sent, *stray]),
                "gor": write_gor(folder / "shop.gor", [*map(gor_request, [*sent, *stray]), gor_response(sent[0].at)])}  # fmt: skip
    traces = {}
    for kind, capture in captures.items():
        trace = folder / f"{kind}.jsonl"
        done = drillkit("traffic", "import", str(capture), "--out", str(trace), "--model", "ranker", "--json")
        assert done.returncode == 0, done.stderr
        traces[kind] = (trace, json.loads(done.stdout))
    return traces


def test_traces_imported_from_har_and_goreplay_keep_the_requests_and_no_credentials(imported: dict) -> None:  # type: ignore[type-arg]
    for kind, (trace, report) in imported.items():
        assert report["format"] == kind and report["kept"] == {"ranker": 2250} and report["duration_s"] == pytest.approx(44.98)
        assert report["skipped"] == {"not an inference request": 1, "a body that is not a KServe v2 request": 1}
        text = trace.read_text()
        assert SECRET.split()[1] not in text and COOKIE not in text
        stats = drillkit("traffic", "stats", str(trace), "--json")
        assert stats.returncode == 0 and json.loads(stats.stdout)["mix"] == {"ranker": 1.0}, stats.stderr


def experiment(tmp_path: Path, name: str, *, pause_s: float) -> Path:
    """A shipped experiment aimed at this environment's regions and nodes (``primary`` is
    us-east-1, ``standby`` eu-west-1, ``primary-0`` us-east-1-0), its first pause shortened."""
    source = REPO / "chaos" / name
    data = yaml.safe_load(source.read_text())  # JSON is YAML
    renamed = {"primary": "us-east-1", "standby": "eu-west-1", "primary-0": "us-east-1-0"}
    for activity in [*data["method"], *(data.get("steady-state-hypothesis") or {}).get("probes", [])]:
        arguments = activity.get("provider", {}).get("arguments") or {}
        for key in ("region", "target"):
            if key in arguments:
                arguments[key] = renamed[arguments[key]]
    data["method"][0]["pauses"] = {"after": pause_s}
    path = tmp_path / source.name
    path.write_text(json.dumps(data) if source.suffix == ".json" else yaml.safe_dump(data))
    return path


def drill_file(tmp_path: Path, env_file: Path, name: str, experiment_path: Path, trace: Path, **extra: object) -> Path:
    drill = tmp_path / f"{name}.yaml"
    drill.write_text(yaml.safe_dump({
        "name": name, "environment": str(env_file), "experiment": str(experiment_path),
        "load": {"trace": str(trace), "warmup_s": 3, "cooldown_s": 3},
        "recovery": {"rto_budget_s": 5, "stable_for_s": 2}, "bring_up": False,
        "slos": [{"name": "errors", "kind": "error_ratio", "max_ratio": 0.05, "window_s": 3}], **extra,
    }))  # fmt: skip
    return drill


def judged(result_dir: Path) -> tuple[dict, dict[str, str]]:  # type: ignore[type-arg]
    """The drill's journal (valid against the schema) and its verdicts; its PDF and gate are checked."""
    journal = assert_valid_journal(result_dir / "journal.json")
    assert (result_dir / "report.pdf").stat().st_size > 1000
    kinds = read_request_log(result_dir / "request_log")["kind"].unique().tolist()
    assert kinds == ["ranker"]  # the load generator labels each request with its model
    verdict = gate(result_dir, Policy())
    assert verdict.passed, [(r.rule, r.detail) for r in verdict.failures]
    return journal, {c["name"]: c["verdict"] for c in journal["checks"]}


def served_during_fault(run_dir: Path, journal: dict, column: str) -> set[str]:  # type: ignore[type-arg]
    """Who answered the requests sent 1 to 4 s into the fault (``region`` or ``node``)."""
    log = read_request_log(run_dir / "request_log")
    during = log[(log["scheduled_at"] > journal["fault_start"] + 1) & (log["scheduled_at"] < journal["fault_start"] + 4)]
    return set(during.loc[during["outcome"] == "ok", column])


def test_a_region_outage_of_the_ranker_is_measured_judged_and_gated(ranker: tuple[LocalPlatform, Path], imported: dict,  # type: ignore[type-arg]
                                                                    tmp_path: Path) -> None:  # fmt: skip
    platform, env_file = ranker
    drill = drill_file(tmp_path, env_file, "ranker-outage", experiment(tmp_path, "region-outage.json", pause_s=4), imported["har"][0])
    result = run_drill(plan_drill(drill), reports=tmp_path / "reports")
    journal, checks = judged(result.run_dir)
    m = journal["measurements"]
    assert m["requests"] > 400 and isinstance(m["rto_s"], float) and m["rto_s"] <= 5.0, (m, journal["checks"])
    assert checks["rollback"] == "PASS" and checks["recovery"] == "PASS", checks
    assert journal["capacity"]["ok"] and journal["capacity"]["same_model"], journal["capacity"]
    canary = [e for e in journal["timeline"] if e["event"] == "canary"]
    assert canary and all(e.get("wrong") is None for e in canary if e.get("error") is None), canary[:3]
    assert served_during_fault(result.run_dir, journal, "region") == {"eu-west-1"}  # the standby served the outage
    assert all(n.health is Health.READY for n in platform.status().nodes())


def test_a_node_crash_of_the_ranker_is_hidden_by_its_region_mate(ranker: tuple[LocalPlatform, Path], imported: dict,  # type: ignore[type-arg]
                                                                  tmp_path: Path) -> None:  # fmt: skip
    platform, env_file = ranker
    drill = drill_file(tmp_path, env_file, "ranker-crash", experiment(tmp_path, "node-crash.json", pause_s=4), imported["gor"][0])
    result = run_drill(plan_drill(drill), reports=tmp_path / "reports")
    journal, checks = judged(result.run_dir)
    m = journal["measurements"]
    assert checks["rollback"] == "PASS" and checks["recovery"] == "PASS" and m["rto_s"] <= 5.0, (m, checks)
    assert journal["faulted"] == ["us-east-1-0"], journal["faulted"]
    assert served_during_fault(result.run_dir, journal, "node") == {"us-east-1-1"}  # its region-mate, not the standby
    assert all(n.health is Health.READY for n in platform.status().nodes())


def test_data_loss_of_the_ranker_is_restored_from_a_backup_older_than_its_golden_answers(
    ranker: tuple[LocalPlatform, Path], imported: dict, tmp_path: Path  # type: ignore[type-arg]
) -> None:
    platform, env_file = ranker
    store = store_for(platform.spec, platform.root)
    deadline = time.monotonic() + 30
    while not store.list() and time.monotonic() < deadline:
        time.sleep(0.2)
    (baseline,) = store.list()  # taken at up, before `golden record`: it holds no golden.json
    assert "r1/golden.json" not in {f.path for f in baseline.files}
    drill = drill_file(tmp_path, env_file, "ranker-restore", experiment(tmp_path, "data-loss-restore.yaml", pause_s=1),
                       imported["har"][0], recovery={"rto_budget_s": 5, "stable_for_s": 2, "rpo_budget_s": 3600,
                                                     "restore_budget_s": 60})  # fmt: skip
    result = run_drill(plan_drill(drill), reports=tmp_path / "reports")
    journal, checks = judged(result.run_dir)
    r = journal["restore"]
    assert r["backup_id"] == baseline.id and r["refused"] == [] and r["golden_identical"] is True, r
    assert {k: checks[k] for k in ("rpo", "restore_time", "restored_answers", "recovery")} == dict.fromkeys(
        ("rpo", "restore_time", "restored_answers", "recovery"), "PASS"), journal["checks"]  # fmt: skip
    # The restored version carries the golden answers recorded for its manifest again
    restored = platform.region_repository("us-east-1") / "r1"
    assert fingerprint(golden_of(restored)) == fingerprint(golden_of(platform.spec.state_dir / "models" / "r1"))
    assert all(n.health is Health.READY for n in platform.status().nodes())
