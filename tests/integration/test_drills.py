"""Drills on the real 2x2 stack with load: faults, rollbacks, measurements, recover, guards, a suite."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from junitparser import Failure, JUnitXml
from pypdf import PdfReader

from drillkit.drill import run_drill
from drillkit.gate import gate
from drillkit.netfault import NetfaultClient
from drillkit.plan import plan_drill
from drillkit.platforms.base import Health
from drillkit.platforms.local import LocalPlatform
from drillkit.report.history import History
from drillkit.spec import GatewaySpec
from drillkit.spec.alerting import AlertingSpec
from drillkit.spec.policy import Policy
from drillkit.suite import SuiteRunner, plan_suite
from tests.integration.conftest import make_spec, running_from_file
from tests.schema import assert_valid_journal

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TRACE = REPO / "loadtests/traces/drill.parquet"
# Real cloud region names, hyphens and all: every drill here measures failback, traffic share
# and TTD for a primary that is not called "primary" (the shipped files all say primary/standby).
PRIMARY, STANDBY = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPlatform, Path]]:
    """A running 2x2 stack with fast health checks, and its environment file."""
    folder = tmp_path_factory.mktemp("drills")
    spec = make_spec(folder / "state", name="drills", regions=(PRIMARY, STANDBY))
    # The reference deployment's passive check (error_limit 1, drills/environments/local.yaml):
    # with 3, a request in flight at a region outage can spend all six retries on the two dead
    # primaries (refused at once, so HAProxy retries without a pause) before they are marked down.
    # And its strict check timeout: a check slower than a user's try fails, so a node behind the
    # latency fault stays out instead of flapping back in through slow checks (p99 323 ms without).
    # And its short connect timeout, HAProxy's pause before each connection retry: at 100 ms the
    # requests in flight at the region outage took up to 350 ms on a busy CI machine.
    gateway = GatewaySpec(check_interval_ms=100, fall=1, rise=1, error_limit=1, check_timeout_ms=150, connect_timeout_ms=20)
    # The real Alertmanager and drillkit's receiver, with the reference rules and one of the
    # user's: an alert that fires whenever a load generator is scraped (in every warm-up).
    noise = folder / "noise.rules.yml"
    noise.write_text(yaml.safe_dump({"groups": [{"name": "noise", "rules": [
        {"alert": "LoadGeneratorScraped", "expr": 'up{job="loadgen"} == 1', "for": "2s", "labels": {"severity": "info"}}]}]}))  # fmt: skip
    spec = spec.model_copy(update={"gateway": gateway, "alerting": AlertingSpec(rule_files=(noise,))})
    with running_from_file(spec, folder) as running:
        yield running


# Every drill here is also judged in Prometheus: PromQL SLOs and a cross-check of TTD and RTO.
SLOS = [
    {"name": "p99-latency", "kind": "latency", "quantile": 0.99, "threshold_ms": 250, "window_s": 3},
    {"name": "errors", "kind": "error_ratio", "max_ratio": 0.05, "window_s": 3},
    {"name": "availability", "kind": "availability", "min_ratio": 0.95, "window_s": 3},
]
# Generous guards: they must never stop a drill that recovers.
GUARDS = [
    {"name": "error-storm", "source": "prometheus", "signal": "error_ratio", "above": 0.9, "window_s": 3, "for_s": 20},
    {"name": "clients-failing", "source": "loadgen", "signal": "error_ratio", "above": 0.9, "window_s": 3, "for_s": 20},
]


# The trace at 3/4 speed (about 60 req/s): on a 2-core CI machine the full 80 req/s left the
# standby no room while both primaries restarted at the rollback (a region outage read RTO
# 14.4 s from windows over the p99 SLO there) or while the capacity burst ran beside the load.
# Every path is the same at 60; the rate is not what these drills test.
SPEED = 0.75


def drill_file(folder: Path, env_file: Path, experiment: Path, *, budget: float = 5.0, name: str = "t",
               abort: list[dict[str, object]] | None = None, alerts: list[dict[str, object]] | None = None) -> Path:  # fmt: skip
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "environment": str(env_file), "experiment": str(experiment),
        "load": {"trace": str(TRACE), "speed": SPEED, "warmup_s": 3, "cooldown_s": 3},
        "recovery": {"rto_budget_s": budget, "stable_for_s": 2}, "bring_up": False,
        "slos": SLOS, "abort": GUARDS if abort is None else abort, "alerts": alerts or [],
    }))  # fmt: skip
    return path


def _renamed(value: object) -> object:
    """The shipped experiments' region and node names, as this module's environment calls them."""
    if isinstance(value, dict):
        return {k: _renamed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v) for v in value]
    if isinstance(value, str):
        for old, new in (("primary", PRIMARY), ("standby", STANDBY)):
            if value == old or (value.startswith(old + "-") and value[len(old) + 1 :].isdigit()):
                return new + value[len(old) :]
    return value


def experiment(folder: Path, base: str, *, pause: float | None = None, target: dict | None = None) -> Path:  # type: ignore[type-arg]
    data = json.loads((REPO / "chaos" / f"{base}.json").read_text())
    for activity in [*data["method"], *data.get("rollbacks", []), *(data.get("steady-state-hypothesis") or {}).get("probes", [])]:
        if "arguments" in activity.get("provider", {}):
            activity["provider"]["arguments"] = _renamed(activity["provider"]["arguments"])
    if pause is not None:
        data["method"][0]["pauses"] = {"after": pause}
    if target is not None:
        data["method"][0]["provider"]["arguments"] = target
    path = folder / f"{base}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(data))
    return path


def assert_healthy(platform: LocalPlatform) -> None:
    """Nothing left behind: every node ready and UP, the proxy clear, no pending undo."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        nodes = platform.status().nodes()
        if all(n.health is Health.READY and n.gateway_state == "UP" for n in nodes):
            break
        time.sleep(0.3)
    assert all(n.health is Health.READY and n.gateway_state == "UP" for n in platform.status().nodes())
    routes = NetfaultClient.from_state(platform.root, platform.status().netfault_url).routes()
    assert all(r.fault.is_clear for r in routes)
    assert platform.undo_log().pending() == []


@pytest.mark.parametrize(
    ("base", "pause"),
    [("region-outage", 8), ("node-crash", 3), ("network-partition", 4), ("gpu-device-lost", 3)],
)
def test_a_drill_recovers_within_budget_and_leaves_no_fault(
    env: tuple[LocalPlatform, Path], tmp_path: Path, base: str, pause: float
) -> None:
    platform, env_file = env
    # The region outage is also this environment's alerting drill (README: Verify your alerting).
    alerts = REGION_OUTAGE_ALERTS if base == "region-outage" else None
    plan = plan_drill(drill_file(tmp_path, env_file, experiment(tmp_path, base, pause=pause), name=base, alerts=alerts))
    planned = env_file.read_text()
    env_file.write_text("regions: edited during the drill\n")  # the drill acts on the environment it was planned with
    try:
        result = run_drill(plan, reports=tmp_path / "reports")
    finally:
        env_file.write_text(planned)
    assert (result.run_dir / "environment.yaml").read_text() == planned
    journal = assert_valid_journal(result.run_dir / "journal.json")
    m = journal["measurements"]
    assert m is not None and m["requests"] > 500
    # "never" (not recovered) is a string in the journal: the message shows why, not a TypeError
    assert isinstance(m["rto_s"], float) and m["rto_s"] <= 5.0, (m, journal["checks"], journal["cross_check"])
    assert {c["name"]: c["verdict"] for c in journal["checks"]}["rollback"] == "PASS"
    assert journal["fault_start"] is not None and journal["rollback_end"] > journal["fault_start"]
    assert (result.run_dir / "report.pdf").stat().st_size > 1000
    slos = {s["name"]: s for s in journal["slos"]}
    assert all(slos[n]["verdict"] in ("PASS", "FAIL") and slos[n]["value"] is not None for n in ("p99-latency", "errors", "availability")), slos
    if base == "region-outage":  # the reference deployment fails over without hurting users
        assert {s["verdict"] for s in slos.values()} == {"PASS"}, {n: (s["verdict"], s["value"]) for n, s in slos.items()}
        assert_paged(journal)
    assert slos["errors"]["query"].startswith("(sum(rate(drillkit_client_requests_total") and slos["errors"]["value"] is not None
    cross = journal["cross_check"]
    assert cross["rto_prom_s"] is not None and not cross["flagged"], cross  # within a scrape + a step + 100 ms
    assert journal["series"]["requests_per_s_by_region"]["series"], "the report's series were kept"
    assert journal["abort"] is None
    # Failback waits for the environment's primary, whatever it is called (not the literal "primary").
    assert isinstance(m["failback_s"], float) and 0 <= m["failback_s"] < 10, m
    assert m["resolution_s"] == 0.1
    assert_healthy(platform)


REGION_OUTAGE_ALERTS = [
    # the page goes out, fast, and the all-clear after the rollback
    {"alert": "RecommenderRegionDown", "labels": {"region": PRIMARY}, "must_fire_within_s": 30, "must_notify_within_s": 30,
     "must_resolve_within_s": 60},
    # a demand that is not met: no GPU is lost in a region outage, so this check must FAIL the drill
    {"alert": "RecommenderGPUDeviceLost", "must_fire_within_s": 5},
    # an alert that fires in every warm-up: must_not_fire catches it
    {"alert": "LoadGeneratorScraped", "must_not_fire": True},
]  # fmt: skip


def assert_paged(journal: dict) -> None:  # type: ignore[type-arg]
    """The real Alertmanager paged drillkit's receiver for the region outage, with every time measured."""
    checks = {c["name"]: c for c in journal["checks"]}
    paged = checks[f"alert:RecommenderRegionDown{{region={PRIMARY}}}"]
    assert paged["verdict"] == "PASS", (paged, journal["alerting"])
    section = journal["alerting"]
    assert section["prometheus_reachable"] and section["alertmanager_reachable"] and section["receiver"]
    (down,) = [e for e in section["episodes"] if e["alert"] == "RecommenderRegionDown"]
    assert down["labels"]["region"] == PRIMARY and down["labels"]["role"] == "primary" and down["labels"]["severity"] == "critical"
    assert 5 <= down["time_to_fire_s"] <= down["time_to_notify_s"] < 30, down  # `for: 5s`, then Alertmanager
    assert 0 < down["time_to_resolve_s"] < 60 and not down["false_alarm"], down
    assert checks["alert:RecommenderGPUDeviceLost"]["verdict"] == "FAIL" and "never fired" in checks["alert:RecommenderGPUDeviceLost"]["detail"]
    noise = checks["alert:LoadGeneratorScraped"]
    assert noise["verdict"] == "FAIL" and "before the fault" in noise["detail"], noise
    assert [e["alert"] for e in section["episodes"] if e["false_alarm"]] == ["LoadGeneratorScraped"]
    assert journal["exit_code"] == 1  # the unmet demands fail the drill


def test_ground_truth_a_total_blackhole_is_measured_to_within_100ms(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = env
    both = experiment(tmp_path, "network-partition", pause=3)
    data = json.loads(both.read_text())
    data["method"].insert(1, {**data["method"][0], "name": "partition-standby",
                              "provider": {**data["method"][0]["provider"], "arguments": {"target": STANDBY}}})  # fmt: skip
    data["method"][0].pop("pauses")
    both.write_text(json.dumps(data))
    result = run_drill(plan_drill(drill_file(tmp_path, env_file, both, budget=30, name="truth")), reports=tmp_path / "r")
    journal = assert_valid_journal(result.run_dir / "journal.json")
    injected = [e["output"]["injected_at"] for e in journal["timeline"]
                if e["event"] == "activity_ended" and isinstance(e.get("output"), dict) and "injected_at" in e["output"]]  # fmt: skip
    cleared = min(e.done_at for e in platform.undo_log().entries()
                  if e.undo == "clear_network" and e.done_at and e.recorded_at >= injected[0] - 5)  # this drill's
    truth = cleared - injected[0]  # from the first region cut to the clear
    assert truth > 2.9
    m = journal["measurements"]
    assert abs(m["outage_s"] - truth) <= 0.1, (m, truth)
    # RTO is read every 100 ms, not per 1 s window: it too lands within 100 ms of the outage,
    # as the request log itself shows it (first failed request to the first good one after the last).
    log = result_log(result.run_dir)
    failed = log[log["outcome"] != "ok"]["scheduled_at"]
    after = log[log["scheduled_at"] > failed.max()]["scheduled_at"]
    seen = float(after.min()) - injected[0]
    assert abs(seen - truth) <= 0.1 and failed.min() - injected[0] < 0.1, (seen, truth)
    assert abs(m["rto_s"] - seen) <= 0.1 and m["resolution_s"] == 0.1, (m, seen)
    assert_healthy(platform)


def result_log(run_dir: Path):  # type: ignore[no-untyped-def]
    from drillkit.request_log import read_request_log

    return read_request_log(run_dir / "request_log")


def test_the_shipped_bad_release_drill_rolls_back_stale_embeddings(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    """drills/bad-model-rollout.yaml's experiment: the release is built from this environment's
    model with every item's embedding moved, caught at its canary and rolled back."""
    platform, env_file = env
    shipped = yaml.safe_load((REPO / "drills/bad-model-rollout.yaml").read_text())
    drill = tmp_path / "bad-release.yaml"
    drill.write_text(yaml.safe_dump({
        **shipped, "environment": str(env_file), "experiment": str(experiment(tmp_path, "bad-model-rollout")),
        "load": {"trace": str(TRACE), "speed": SPEED, "warmup_s": 3, "cooldown_s": 2}, "bring_up": False,
    }))  # fmt: skip
    result = run_drill(plan_drill(drill), reports=tmp_path / "r")
    journal = assert_valid_journal(result.run_dir / "journal.json")
    report = journal["rollout"]["report"]
    assert report["outcome"] == "rolled_back" and report["reasons"][0].startswith("wrong answers: 200 of 200"), report["reasons"]
    assert report["plan"]["order"][0] == f"{PRIMARY}-0" and report["comparison"]["reference"] == f"{PRIMARY}-1"
    served = journal["rollout"]["audit"]["served"]["v1-stale"]
    assert served > 20 and journal["rollout"]["wrong_answers_served"] == served  # every item moved: every answer wrong
    assert result.exit_code == 0, journal["checks"]
    text = " ".join(page.extract_text() for page in PdfReader(str(result.run_dir / "report.pdf")).pages)
    assert "release v1-stale over v1: rolled back" in text and "time to roll back" in text
    assert {n.version for n in platform.status().nodes()} == {"v1"}
    assert_healthy(platform)


def test_sigint_during_a_fault_rolls_back(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = env
    drill = drill_file(tmp_path, env_file, experiment(tmp_path, "network-partition", pause=30), budget=30, name="sigint")
    runner = _start_runner(drill, tmp_path / "reports")
    try:
        _wait_injected(platform)
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=60) == 130
    finally:
        runner.kill()
    journal = assert_valid_journal(next((tmp_path / "reports").glob("sigint-*/journal.json")))
    assert journal["interrupted"] is True
    assert_healthy(platform)


def test_a_killed_runner_leaves_a_fault_that_recover_undoes(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = env
    drill = drill_file(tmp_path, env_file, experiment(tmp_path, "network-partition", pause=30), budget=30, name="crash")
    runner = _start_runner(drill, tmp_path / "reports")
    try:
        _wait_injected(platform)
        runner.kill()  # SIGKILL: no rollback can run
        runner.wait(timeout=10)
    finally:
        runner.kill()
    assert any(not r.fault.is_clear for r in NetfaultClient.from_state(platform.root, platform.status().netfault_url).routes())
    assert {e.undo for e in platform.undo_log().pending()} >= {"clear_network", "stop_process"}
    done = subprocess.run([sys.executable, "-m", "drillkit", "recover", "--env", str(env_file)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "undid" in done.stdout
    assert_healthy(platform)


def _start_runner(drill: Path, reports: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "drillkit", "run", str(drill), "--reports", str(reports)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_injected(platform: LocalPlatform, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(e.undo == "clear_network" for e in platform.undo_log().pending()):
            time.sleep(1.0)
            return
        time.sleep(0.2)
    raise AssertionError("the fault was never injected")


def test_a_stock_chaos_run_works_against_an_environment_started_by_drillkit(
    env: tuple[LocalPlatform, Path], tmp_path: Path
) -> None:
    import os

    platform, env_file = env
    chaos = Path(sys.executable).parent / "chaos"
    done = subprocess.run([str(chaos), "run", str(experiment(tmp_path, "node-crash", pause=1))], cwd=tmp_path,
                          env={**os.environ, "DRILLKIT_ENV": str(env_file)}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed" and not journal["deviated"]
    crashed = [r for r in journal["run"] if r["activity"]["provider"]["func"] == "crash_node"]
    assert crashed[0]["output"]["targets"] == [f"{PRIMARY}-0"] and crashed[0]["output"]["layer"] == "node"
    assert_healthy(platform)


def test_the_capacity_precheck_refuses_when_the_standby_cannot_take_the_load(
    env: tuple[LocalPlatform, Path], tmp_path: Path
) -> None:
    from drillkit.drill import CapacityRefused

    platform, env_file = env
    plan = plan_drill(drill_file(tmp_path, env_file, experiment(tmp_path, "region-outage", pause=2), name="refused"))
    faults_before = len(platform.undo_log().entries())
    platform.pause_node(f"{STANDBY}-1")  # a hung standby node: the standby region is short of capacity
    try:
        with pytest.raises(CapacityRefused, match="standby nodes are ready"):
            run_drill(plan, reports=tmp_path / "reports")
    finally:
        platform.resume_node(f"{STANDBY}-1")
    journal = assert_valid_journal(next((tmp_path / "reports").glob("refused-*/journal.json")))
    assert {c["name"]: c["verdict"] for c in journal["checks"]}["capacity"] == "FAIL"
    assert journal["fault_start"] is None  # nothing was injected
    added = platform.undo_log().entries()[faults_before:]
    assert [e.fault for e in added] == ["load"]  # the drill's load generator, and no fault
    assert_healthy(platform)


def test_an_abort_guard_stops_a_harsh_fault_and_the_rollback_runs(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = env
    both = experiment(tmp_path, "network-partition", pause=40)  # both regions cut for 40 s: no one gets an answer
    data = json.loads(both.read_text())
    data["method"][0]["provider"]["arguments"] = {"target": PRIMARY}
    data["method"].insert(1, {**data["method"][0], "name": "partition-standby", "pauses": {"after": 40},
                              "provider": {**data["method"][0]["provider"], "arguments": {"target": STANDBY}}})  # fmt: skip
    data["method"][0].pop("pauses")
    both.write_text(json.dumps(data))
    guards = [{"name": "no-backend-up", "source": "prometheus", "signal": "backends_up", "below": 1, "for_s": 1},
              {"name": "clients-failing", "source": "loadgen", "signal": "error_ratio", "above": 0.5, "window_s": 2, "for_s": 1}]
    started = time.monotonic()
    result = run_drill(plan_drill(drill_file(tmp_path, env_file, both, budget=30, name="abort", abort=guards)),
                       reports=tmp_path / "r")  # fmt: skip
    assert time.monotonic() - started < 40, "the guard did not cut the 40 s fault short"
    journal = assert_valid_journal(result.run_dir / "journal.json")
    assert journal["abort"]["tripped"] and journal["abort"]["guard"] in ("no-backend-up", "clients-failing")
    assert {c["name"]: c["verdict"] for c in journal["checks"]}["abort"] == "FAIL"
    assert result.exit_code == 1 and journal["interrupted"] is False
    assert [e["event"] for e in journal["timeline"]].count("abort") == 1
    assert {u["undo"] for u in journal["undone"]} <= {"clear_network"} and all(u["error"] is None for u in journal["undone"])
    assert_healthy(platform)


def _suite_drill(folder: Path, env_file: Path, base: str) -> Path:
    # The suite is under test here, not the gateway: a region-wide latency fault costs the requests
    # sent in its first 100 ms two per-try timeouts (each primary's, until both are out), 210-240 ms
    # on an idle machine, so the shipped 250 ms objective is the nightly suite's to measure. 500 ms
    # still fails a request that waits out the 2 s server timeout.
    path = folder / f"{base}.yaml"
    path.write_text(yaml.safe_dump({
        "name": base, "environment": str(env_file), "experiment": str(experiment(folder, base, pause=2)),
        "load": {"trace": str(REPO / "loadtests/traces/drill.parquet"), "warmup_s": 2, "cooldown_s": 2},
        "recovery": {"rto_budget_s": 5, "stable_for_s": 2}, "bring_up": False, "slo": {"p99_ms": 500},
    }))  # fmt: skip
    return path


def test_a_suite_of_three_drills_writes_junit_a_pdf_and_history(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    # Three drills whose rollbacks restart nothing, so the suite itself is what is tested.
    platform, env_file = env
    drills = [{"drill": str(_suite_drill(tmp_path, env_file, base))} for base in ("node-hang", "network-partition", "network-latency")]
    # Impossible budgets: recover in a millisecond with a p99 of 1 ms through the gateway.
    drills[1]["overrides"] = {"recovery": {"rto_budget_s": 0.001}, "slo": {"p99_ms": 1}}
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "itest", "settle_s": 1, "retries": 0, "drills": drills}))
    result = SuiteRunner(plan_suite(suite), reports=tmp_path / "reports").run()
    statuses = [o.status.value for o in result.outcomes]
    assert statuses == ["PASSED", "FAILED", "PASSED"], [(o.name, o.error) for o in result.outcomes]
    cases = {c.name: c for c in next(iter(JUnitXml.fromfile(str(result.folder / "junit.xml"))))}
    assert sorted(cases) == ["network-latency", "network-partition", "node-hang"]
    failure = cases["network-partition"].result[0]
    assert isinstance(failure, Failure) and "budget 0.001 s" in failure.message, failure.message
    assert cases["node-hang"].result == [] and cases["node-hang"].time > 5
    text = PdfReader(result.folder / "suite.pdf").pages[0].extract_text()
    assert "drillkit suite report: itest" in text and "2 of 3 drills passed" in text
    assert 0 < result.score < 100
    assert [r.drill for r in History(tmp_path / "reports" / "history.sqlite").rows()] == [o.name for o in result.outcomes]
    refusal = gate(result.folder, Policy(allow_no_data=True))
    assert {r.drill for r in refusal.failures} == {"network-partition"}
    assert "check recovery" in {r.rule for r in refusal.failures}
    assert_healthy(platform)
