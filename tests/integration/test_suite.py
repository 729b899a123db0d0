"""A suite of three short drills on one real 2x2 stack: the suite folder, junit.xml read by a
real JUnit parser (one drill fails on an impossibly low budget), the suite PDF, the history
and the gate over the suite folder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from junitparser import Failure, JUnitXml
from pypdf import PdfReader

from drillkit.gate import gate
from drillkit.platforms.local import LocalPlatform
from drillkit.report.history import History
from drillkit.spec import GatewaySpec
from drillkit.spec.policy import Policy
from drillkit.suite import SuiteRunner, plan_suite
from tests.integration.conftest import make_spec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running 2x2 stack with fast health checks; its environment file."""
    folder = tmp_path_factory.mktemp("suite")
    spec = make_spec(folder / "state", name="suite")
    spec = spec.model_copy(update={"gateway": GatewaySpec(check_interval_ms=100, fall=1, rise=1)})
    env_file = folder / "env.yaml"
    env_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    platform = LocalPlatform(spec, spec_file=str(env_file))
    platform.up()
    try:
        yield env_file
    finally:
        platform.down()


def _drill(folder: Path, env_file: Path, base: str) -> Path:
    experiment = json.loads((REPO / "chaos" / f"{base}.json").read_text())
    experiment["method"][0]["pauses"] = {"after": 2}
    (folder / f"{base}.json").write_text(json.dumps(experiment))
    path = folder / f"{base}.yaml"
    path.write_text(yaml.safe_dump({
        "name": base, "environment": str(env_file), "experiment": str(folder / f"{base}.json"),
        "load": {"trace": str(REPO / "loadtests/traces/drill.parquet"), "warmup_s": 2, "cooldown_s": 2},
        "recovery": {"rto_budget_s": 5, "stable_for_s": 2}, "bring_up": False,
    }))  # fmt: skip
    return path


def test_a_suite_of_three_drills_writes_junit_a_pdf_and_history(env: Path, tmp_path: Path) -> None:
    drills = [{"drill": str(_drill(tmp_path, env, base))} for base in ("node-crash", "network-partition", "region-outage")]
    # Impossible budgets: recover in a millisecond with a p99 of 1 ms through the gateway.
    drills[1]["overrides"] = {"recovery": {"rto_budget_s": 0.001}, "slo": {"p99_ms": 1}}
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "itest", "settle_s": 1, "retries": 0, "drills": drills}))
    started = time.monotonic()
    result = SuiteRunner(plan_suite(suite), reports=tmp_path / "reports").run()
    took = time.monotonic() - started
    statuses = [o.status.value for o in result.outcomes]
    assert statuses == ["PASSED", "FAILED", "PASSED"], [(o.name, o.error) for o in result.outcomes]
    cases = {c.name: c for c in next(iter(JUnitXml.fromfile(str(result.folder / "junit.xml"))))}
    assert sorted(cases) == ["network-partition", "node-crash", "region-outage"]
    failure = cases["network-partition"].result[0]
    assert isinstance(failure, Failure) and "budget 0.001 s" in failure.message, failure.message
    assert cases["node-crash"].result == [] and cases["node-crash"].time > 5
    text = PdfReader(result.folder / "suite.pdf").pages[0].extract_text()
    assert "drillkit suite report: itest" in text and "2 of 3 drills passed" in text
    assert 0 < result.score < 100
    assert [r.drill for r in History(tmp_path / "reports" / "history.sqlite").rows()] == [o.name for o in result.outcomes]
    refusal = gate(result.folder, Policy(allow_no_data=True))
    assert {r.drill for r in refusal.failures} == {"network-partition"}
    assert "check recovery" in {r.rule for r in refusal.failures}
    print(f"suite of three drills took {took:.0f} s")
