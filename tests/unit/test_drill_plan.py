"""A drill is validated whole before anything runs; two drills never share an environment."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from drillkit.drill import DrillBusyError, run_drill
from drillkit.errors import ExitCode, SpecError
from drillkit.plan import plan_drill
from drillkit.undo import UndoLog

REPO = Path(__file__).resolve().parents[2]
ENV = "name: plantest\nstate_dir: {state}\nregions:\n  - {{name: primary, role: primary}}\n  - {{name: standby, role: standby}}\n"


def write_drill(tmp_path: Path, experiment: Path, *, trace: Path | None = None) -> Path:
    (tmp_path / "env.yaml").write_text(ENV.format(state=tmp_path / "state"))
    drill = tmp_path / "drill.yaml"
    drill.write_text(f"""name: plan-test
environment: env.yaml
experiment: {experiment}
load: {{trace: {trace or REPO / "loadtests/traces/drill.parquet"}, warmup_s: 1, cooldown_s: 1}}
recovery: {{rto_budget_s: 5}}
bring_up: false
""")
    return drill


def test_every_shipped_drill_validates() -> None:
    for drill in sorted((REPO / "drills").glob("*.yaml")):
        plan = plan_drill(drill)
        env = Path(plan.experiment["configuration"]["drillkit_env"])
        assert env.parent == REPO / "drills/environments" and env.is_file(), drill


def test_a_plan_keeps_the_environment_text_it_validated(tmp_path: Path) -> None:
    plan = plan_drill(write_drill(tmp_path, REPO / "chaos/node-crash.json"))
    planned = (tmp_path / "env.yaml").read_text()
    (tmp_path / "env.yaml").write_text("regions: edited after planning\n")
    assert plan.environment_text == planned and plan.environment.name == "plantest"


def test_an_unknown_activity_is_refused_before_anything_runs(tmp_path: Path) -> None:
    experiment = json.loads((REPO / "chaos/node-crash.json").read_text())
    experiment["method"][0]["provider"]["func"] = "crash_nodes_typo"
    (tmp_path / "bad.json").write_text(json.dumps(experiment))
    with pytest.raises(SpecError) as caught:
        plan_drill(write_drill(tmp_path, tmp_path / "bad.json"))
    assert "crash_nodes_typo" in caught.value.problem and caught.value.exit_code is ExitCode.INVALID_INPUT
    assert not (tmp_path / "state").exists()


def test_a_misnamed_argument_is_refused(tmp_path: Path) -> None:
    experiment = json.loads((REPO / "chaos/node-crash.json").read_text())
    experiment["method"][0]["provider"]["arguments"] = {"node": "primary-0"}
    (tmp_path / "bad.json").write_text(json.dumps(experiment))
    with pytest.raises(SpecError, match="node"):
        plan_drill(write_drill(tmp_path, tmp_path / "bad.json"))


def test_a_trace_too_short_for_the_drill_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("offset_s,kind,user_id,k\n0,recommend,1,10\n5,recommend,2,10\n")
    with pytest.raises(SpecError, match="needs about"):
        plan_drill(write_drill(tmp_path, REPO / "chaos/node-crash.json", trace=short))


def test_a_second_drill_on_the_same_environment_is_refused(tmp_path: Path) -> None:
    plan = plan_drill(write_drill(tmp_path, REPO / "chaos/node-crash.json"))
    lock = tmp_path / "state" / "plantest" / "drill.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the first drill
        with pytest.raises(DrillBusyError, match="one at a time"):
            run_drill(plan, reports=tmp_path / "reports")
    assert not UndoLog(tmp_path / "state" / "plantest" / "undo.jsonl").entries()


def test_a_fault_the_platform_cannot_make_is_refused_at_plan_time(tmp_path: Path) -> None:
    from drillkit.plan import check_platform, load_experiment
    from drillkit.spec import load_environment
    from tests.fakes.kube_env import kube_environment

    experiment = load_experiment(REPO / "chaos/network-latency.json", tmp_path / "env.yaml")
    for d in ("bare", "mesh"):
        (tmp_path / d).mkdir()
    bare = kube_environment(tmp_path / "bare")  # no Chaos Mesh: a NetworkPolicy can only partition
    with pytest.raises(SpecError, match=r"network-latency.json: method\[0\] \(slow-primary\): kubernetes .*need Chaos Mesh"):
        check_platform(experiment, bare, spec_file=tmp_path / "bare/env.yaml", experiment_file=REPO / "chaos/network-latency.json")
    mesh = kube_environment(tmp_path / "mesh", chaos_mesh=True)
    check_platform(experiment, mesh, spec_file=tmp_path / "mesh/env.yaml", experiment_file=REPO / "chaos/network-latency.json")
    resets = {"method": [{"name": "rst", "provider": {"type": "python", "module": "drillkit.chaos.actions",
                                                      "func": "reset_connections"}}]}  # fmt: skip
    with pytest.raises(SpecError, match="connection resets cannot be made on Kubernetes"):
        check_platform(resets, mesh, spec_file=tmp_path / "mesh/env.yaml", experiment_file=Path("x.json"))
    local = load_environment(REPO / "drills/environments/local.yaml")
    check_platform(resets, local, spec_file=REPO / "drills/environments/local.yaml", experiment_file=Path("x.json"))
