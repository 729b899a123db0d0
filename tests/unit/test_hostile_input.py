"""Hostile and malformed input (issue 15, holes 4 and 5 and "Bad input"): every spec loader, the
experiment loader and the trace reader give a valid object or a SpecError (exit 2) that names
the file and the field, never a traceback, and nothing absurd is accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from drillkit.errors import ExitCode, PlanError, SpecError
from drillkit.gateway import Backend, GatewayPlan, render_config, render_region_map
from drillkit.observe.promql import string, traffic_share
from drillkit.observe.validate import check_syntax
from drillkit.plan import load_experiment, plan_drill
from drillkit.spec import GatewaySpec, load_drill, load_environment, load_policy, load_suite
from drillkit.synth import SynthOptions
from drillkit.trace import read_trace

REPO = Path(__file__).resolve().parents[2]
ENV = "name: hostile\nstate_dir: {state}\nregions:\n  - {{name: primary, role: primary}}\n  - {{name: standby, role: standby}}\n"
INJECTED = "stats socket ipv4@0.0.0.0:9999 level admin"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def write_drill(tmp_path: Path, experiment: Path, *, extra: str = "", trace: Path | None = None) -> Path:
    write(tmp_path / "env.yaml", ENV.format(state=tmp_path / "state"))
    return write(tmp_path / "drill.yaml", f"""name: hostile-test
environment: env.yaml
experiment: {experiment}
load: {{trace: {trace or REPO / "loadtests/traces/drill.parquet"}, warmup_s: 1, cooldown_s: 1}}
recovery: {{rto_budget_s: 5}}
bring_up: false
{extra}""")


def spec_error(load: Callable[[Path], Any], path: Path, *, file: Path | None = None) -> SpecError:
    """The SpecError of ``load(path)``; it must name ``file`` (default: ``path``)."""
    with pytest.raises(SpecError) as caught:
        load(path)
    assert caught.value.file == str(file or path) and caught.value.exit_code is ExitCode.INVALID_INPUT
    return caught.value


# Hole 4: config injection.


def test_a_state_dir_with_a_newline_is_refused_when_loaded(tmp_path: Path) -> None:
    path = write(tmp_path / "env.yaml", ENV.format(state=json.dumps(f"/tmp/x\n{INJECTED}")))
    error = spec_error(load_environment, path)
    assert error.field == "state_dir" and "control character" in error.problem


@pytest.mark.parametrize(
    ("field", "yaml_tail"),
    [
        ("prometheus.url", 'prometheus: {url: "http://127.0.0.1:9090/\\nx"}\n'),
        ("prometheus.ca_file", 'prometheus: {ca_file: "/tmp/ca\\rpem"}\n'),
        ("backup.store.path", 'backup: {store: {path: "/tmp/b\\u2028x"}}\n'),
    ],
)
def test_every_path_and_free_string_refuses_control_characters(tmp_path: Path, field: str, yaml_tail: str) -> None:
    path = write(tmp_path / "env.yaml", ENV.format(state=tmp_path) + yaml_tail)
    assert spec_error(load_environment, path).field == field


def test_a_drill_path_with_a_newline_is_refused(tmp_path: Path) -> None:
    drill = write_drill(tmp_path, REPO / "chaos/node-crash.json")
    write(drill, drill.read_text().replace("experiment: ", 'experiment: "x\\n', 1).replace(".json\n", '.json"\n', 1))
    assert spec_error(load_drill, drill).field == "experiment"


def gateway_plan(socket: Path, region: str = "primary") -> GatewayPlan:
    backends = (Backend("primary-0", region, 9001, backup=False),)
    return GatewayPlan(bind_port=8000, stats_port=8404, socket=socket, region_map=Path("/tmp/regions.map"),
                       spec=GatewaySpec(), backends=backends)  # fmt: skip


def test_the_haproxy_renderer_refuses_a_value_that_would_add_a_line() -> None:
    assert render_config(gateway_plan(Path("/tmp/h.sock"))).count("stats socket") == 1
    with pytest.raises(PlanError, match="socket"):
        render_config(gateway_plan(Path(f"/tmp/x\n    {INJECTED}\n#")))
    with pytest.raises(PlanError, match="region"):
        render_region_map(gateway_plan(Path("/tmp/h.sock"), region="primary\nstandby-0 primary").backends)


# Hole 5: PromQL injection.


def test_a_crafted_slo_region_is_refused_when_loaded(tmp_path: Path) -> None:
    crafted = 'primary"}) or vector(1) #'
    slo = f"slos:\n  - {{name: failback, kind: traffic_share, region: {json.dumps(crafted)}, min_share: 0.95}}\n"
    drill = write_drill(tmp_path, REPO / "chaos/node-crash.json", extra=slo)
    assert spec_error(load_drill, drill).field == "slos[0].traffic_share.region"


def test_an_slo_region_that_the_environment_lacks_is_refused_when_planned(tmp_path: Path) -> None:
    slo = "slos:\n  - {name: failback, kind: traffic_share, region: elsewhere, min_share: 0.95}\n"
    drill = write_drill(tmp_path, REPO / "chaos/node-crash.json", extra=slo)
    error = spec_error(plan_drill, drill)
    assert error.field == "slos[0].region" and "primary, standby" in error.fix


def test_a_promql_label_value_escapes_every_control_character() -> None:
    query = traffic_share("primary\r\n\x00\u2028\"x\\", 2)
    assert not any(c in query for c in "\r\n\x00\u2028")
    assert string('a"b') == '"a\\"b"'
    check_syntax({"slos[0]": query}, file="drill.yaml")  # Prometheus' own parser reads the literal back


# "Bad input": every spec loader.

LOADERS = {"environment": load_environment, "drill": load_drill, "suite": load_suite, "policy": load_policy}
BAD_SPECS = {
    "binary garbage": (b"\xff\xfe\x00\x81name: x\n", "byte 0"),
    "5,000 nested brackets": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "-"),
    "a 5,000-digit integer": ("name: " + "9" * 5000 + "\n", "-"),
    "a duplicate key": ("name: a\nname: b\n", "line 2"),
    "an alias": ("x: &a [1, 2]\ny: *a\n", "line 2"),
    "a billion laughs": ("a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n", "line 2"),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_every_spec_loader_refuses_bad_files(tmp_path: Path, kind: str, case: str) -> None:
    text, field = BAD_SPECS[case]
    assert spec_error(LOADERS[kind], write(tmp_path / f"{kind}.yaml", text)).field == field


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_every_spec_loader_refuses_a_directory(tmp_path: Path, kind: str) -> None:
    assert "directory" in spec_error(LOADERS[kind], tmp_path).problem


@pytest.mark.parametrize(
    ("yaml_tail", "field"),
    [
        ("gateway: {connect_timeout_ms: 99999999999999}\n", "gateway.connect_timeout_ms"),
        ("gateway: {server_timeout_ms: 99999999999999}\n", "gateway.server_timeout_ms"),
        ("prometheus: {scrape_interval_s: .nan}\n", "prometheus.scrape_interval_s"),
        ("backup: {every: 1e999}\n", "backup.every"),
        ("backup: {every: " + "9" * 400 + "}\n", "backup.every"),
        ("model: {seed: 1e30}\n", "model.seed"),
    ],
)
def test_absurd_environment_numbers_are_refused(tmp_path: Path, yaml_tail: str, field: str) -> None:
    assert spec_error(load_environment, write(tmp_path / "env.yaml", ENV.format(state=tmp_path) + yaml_tail)).field == field


@pytest.mark.parametrize("value", [".inf", "1e999", "-.inf", ".nan", "1e30"])
def test_a_non_finite_or_absurd_budget_is_refused(tmp_path: Path, value: str) -> None:
    drill = write_drill(tmp_path, REPO / "chaos/node-crash.json")
    write(drill, drill.read_text().replace("rto_budget_s: 5", f"rto_budget_s: {value}"))
    assert spec_error(load_drill, drill).field == "recovery.rto_budget_s"


def test_a_non_finite_policy_limit_is_refused(tmp_path: Path) -> None:
    policy = write(tmp_path / "policy.yaml", "defaults: {max_rto_s: .inf}\n")
    assert spec_error(load_policy, policy).field == "defaults.max_rto_s"


# "Bad input": experiments (JSON and YAML).


def experiment_with(tmp_path: Path, change: Callable[[dict[str, Any]], None], name: str = "x.json") -> Path:
    experiment = json.loads((REPO / "chaos/node-crash.json").read_text())
    change(experiment)
    return write(tmp_path / name, json.dumps(experiment))


def load(path: Path) -> dict[str, Any]:
    return load_experiment(path, REPO / "drills/environments/local.yaml")


def _set(section: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda e: e.__setitem__(section, value)


def _pauses(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda e: e["method"][0].__setitem__("pauses", value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("method", {"type": "action"}), "method"),
        (_set("method", "crash everything"), "method"),
        (_set("rollbacks", "undo"), "rollbacks"),
        (_set("configuration", ["x"]), "configuration"),
        (_set("steady-state-hypothesis", None), "steady-state-hypothesis"),
        (_pauses([5]), "method[0].pauses"),
        (_pauses({"after": -1e9}), "method[0].pauses.after"),
        (_pauses({"after": 1e300}), "method[0].pauses.after"),
        (_pauses({"after": "soon"}), "method[0].pauses.after"),
        (lambda e: e["method"][0]["provider"].__setitem__("arguments", None), "method[0].provider.arguments"),
        (lambda e: e["method"][0]["provider"].__setitem__("arguments", "x"), "method[0].provider.arguments"),
    ],
)
def test_an_experiment_of_the_wrong_shape_is_refused(tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str) -> None:
    assert spec_error(load, experiment_with(tmp_path, change)).field == field


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("x.json", b"\x89PNG\r\n\x1a\n\x00\x00", "byte 0"),
        ("x.json", "[" * 5000 + "]" * 5000, "-"),
        ("x.json", '{"title": ' + "9" * 5000 + "}", "-"),
        ("x.json", '{"title": "t", "method": [{"pauses": {"after": 1e999}}]}', "-"),
        ("x.yaml", "title: t\nmethod: &m\n  - type: action\n    name: a\n    loop: *m\n", "line 5"),
        ("x.yaml", "title: t\ntitle: u\n", "line 2"),
        ("x.yaml", "title: t\nwhen: 2024-01-01\nmethod: []\n", "-"),
        ("x.yaml", "title: t\nblob: !!binary aGk=\nmethod: []\n", "-"),
    ],
)
def test_an_unreadable_experiment_is_refused(tmp_path: Path, name: str, text: str | bytes, field: str) -> None:
    assert spec_error(load, write(tmp_path / name, text)).field == field


def test_an_experiment_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    assert "directory" in spec_error(load, tmp_path).problem


# Allowed code: drillkit's and Chaos Toolkit's extension modules, anything else by opt-in.


def _provider(provider: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda e: e["method"][0].__setitem__("provider", provider)


OS_SYSTEM = {"type": "python", "module": "os", "func": "system", "arguments": {"command": "true"}}
PROCESS = {"type": "process", "path": "/bin/true", "arguments": ""}


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        (OS_SYSTEM, "method[0].provider.module"),
        (PROCESS, "method[0].provider"),
        ({"type": "python", "module": "drillkit.chaos.run", "func": "run_guarded"}, "method[0].provider.func"),
        ({"type": "python", "module": "drillkit.chaosx", "func": "x"}, "method[0].provider.module"),
    ],
)
def test_validate_refuses_code_outside_drillkit_and_chaos_toolkit(tmp_path: Path, provider: dict[str, Any], field: str) -> None:
    experiment = experiment_with(tmp_path, _provider(provider))
    error = spec_error(plan_drill, write_drill(tmp_path, experiment), file=experiment)
    assert error.field == field and ("allow_" in error.fix or "drillkit faults" in error.fix)


def test_a_control_and_a_tolerance_probe_are_checked_too(tmp_path: Path) -> None:
    control = _set("controls", [{"name": "c", "provider": {"type": "python", "module": "os"}}])
    assert spec_error(load, experiment_with(tmp_path, control)).field == "controls[0].provider.module"
    tolerance = {"type": "probe", "name": "t", "provider": OS_SYSTEM}
    probe = lambda e: e["steady-state-hypothesis"]["probes"][0].__setitem__("tolerance", tolerance)  # noqa: E731
    assert spec_error(load, experiment_with(tmp_path, probe)).field.endswith("tolerance.provider.module")


def test_a_drill_opts_in_to_a_module_and_a_process(tmp_path: Path) -> None:
    def both(e: dict[str, Any]) -> None:
        e["method"][0]["provider"] = OS_SYSTEM
        e["method"].append({"type": "probe", "name": "p", "provider": PROCESS})

    opt_in = 'allow_modules: [os]\nallow_processes: ["/bin/true"]\n'
    plan = plan_drill(write_drill(tmp_path, experiment_with(tmp_path, both), extra=opt_in))
    assert plan.experiment["method"][0]["provider"]["module"] == "os"


def test_every_shipped_experiment_still_validates() -> None:
    for path in sorted((REPO / "chaos").iterdir()):
        assert load(path)["method"], path


# "Bad input": traces.


def parquet(tmp_path: Path, **changes: Any) -> Path:
    frame = pd.DataFrame({"offset_s": [0.0, 1.0], "kind": ["recommend"] * 2, "user_id": [1, 2], "k": [10, 10]})
    for column, value in changes.items():
        frame[column] = value
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    return tmp_path / "t.parquet"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"offset_s": [0.0, float("inf")]}, "row 3, column offset_s"),
        ({"offset_s": [float("nan"), 1.0]}, "row 2, column offset_s"),
        ({"offset_s": [0.0, 1e300]}, "row 3, column offset_s"),
        ({"user_id": [1.0, 1e30]}, "row 3, column user_id"),
        ({"user_id": [[1], [2]]}, "row 2, column user_id"),
    ],
)
def test_a_trace_with_absurd_numbers_is_refused(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    assert spec_error(read_trace, parquet(tmp_path, **changes)).field == field


def test_a_truncated_or_directory_trace_is_refused(tmp_path: Path) -> None:
    whole = parquet(tmp_path).read_bytes()
    truncated = write(tmp_path / "cut.parquet", whole[: len(whole) // 2])
    assert "cannot be read" in spec_error(read_trace, truncated).problem
    assert "directory" in spec_error(read_trace, tmp_path).problem


@pytest.mark.parametrize("options", [{"duration_s": float("inf")}, {"mean_rps": 1e12}, {"burst_s": float("nan")}])
def test_a_synthesized_trace_must_be_finite_and_bounded(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid synth options"):
        SynthOptions(**options)


# The CLI: one clear line on stderr, exit 2.


def test_the_cli_prints_one_line_and_exits_2_for_a_hostile_file(tmp_path: Path) -> None:
    drill = write(tmp_path / "drill.yaml", b"\xff" * 200)
    done = subprocess.run([sys.executable, "-m", "drillkit", "validate", str(drill)], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "40"}, cwd=REPO)  # fmt: skip
    assert done.returncode == ExitCode.INVALID_INPUT, done.stderr
    assert done.stderr.count("\n") == 1 and str(drill) in done.stderr and "byte 0" in done.stderr
