"""A drill's PromQL is checked before anything runs: syntax (promtool), windows, the server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from drillkit.errors import SpecError
from drillkit.observe.client import PromClient
from drillkit.observe.validate import check_server, check_syntax, check_windows, drill_queries
from drillkit.plan import plan_drill
from drillkit.spec import DrillSpec
from tests.fakes.prometheus import BAD_QUERY, serve_prometheus

REPO = Path(__file__).resolve().parents[2]
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make setup installs it)")


def drill(tmp_path: Path, environment: Path | None = None, **extra: object) -> Path:
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({
        "name": "d", "environment": str(environment or REPO / "drills/environments/local.yaml"),
        "experiment": str(REPO / "chaos/node-crash.json"), "load": {"trace": str(REPO / "loadtests/traces/drill.parquet")},
        "recovery": {"rto_budget_s": 5}, **extra,
    }))  # fmt: skip
    return path


@needs_promtool
def test_a_promql_syntax_error_names_the_field_before_anything_runs(tmp_path: Path) -> None:
    bad = {"name": "mine", "kind": "promql", "query": "sum(rate(x[5s])", "comparison": "<", "threshold": 1}
    with pytest.raises(SpecError, match=r"slos\[1\] \(mine\): PromQL does not parse: .*unclosed left parenthesis"):
        plan_drill(drill(tmp_path, slos=[{"name": "ok", "kind": "error_ratio", "max_ratio": 0.01}, bad]))


@needs_promtool
def test_a_bad_guard_query_is_caught_too(tmp_path: Path) -> None:
    guard = {"name": "g", "source": "prometheus", "signal": "promql", "query": "rate(x[5s]", "above": 1}
    with pytest.raises(SpecError, match=r"abort\[0\] \(g\)"):
        plan_drill(drill(tmp_path, abort=[guard]))


def test_a_window_shorter_than_two_scrapes_is_refused(tmp_path: Path) -> None:
    spec = DrillSpec.model_validate(yaml.safe_load(drill(tmp_path, slos=[{"name": "e", "kind": "error_ratio", "max_ratio": 0.1,
                                                                            "window_s": 3}]).read_text()))  # fmt: skip
    with pytest.raises(SpecError, match="fewer than two scrapes at 2 s"):
        check_windows(spec, file="d.yaml", scrape_interval_s=2.0)
    check_windows(spec, file="d.yaml", scrape_interval_s=1.0)


def test_an_unreachable_external_prometheus_fails_validation_with_url_and_reason(tmp_path: Path) -> None:
    env = yaml.safe_load((REPO / "drills/environments/local.yaml").read_text())
    env["prometheus"] = {"url": "http://127.0.0.1:9", "retries": 0, "timeout_s": 1}
    env_file = tmp_path / "env.yaml"
    env_file.write_text(yaml.safe_dump(env))
    with pytest.raises(SpecError, match=r"Prometheus at http://127.0.0.1:9 is unreachable"):
        plan_drill(drill(tmp_path, environment=env_file))


def test_an_external_server_is_asked_every_query_and_its_parse_errors_name_the_field() -> None:
    with serve_prometheus() as prom:
        client = PromClient(prom.url, retries=0)
        check_server(client, {"slos[0] (a)": "sum(up)"}, file="d.yaml")
        with pytest.raises(SpecError, match=r"slos\[1\] \(b\).*parse error"):
            check_server(client, {"slos[0] (a)": "sum(up)", "slos[1] (b)": BAD_QUERY}, file="d.yaml")
    assert [r["params"]["query"] for r in prom.seen] == ["sum(up)", "sum(up)", BAD_QUERY]


def test_without_promtool_the_check_refuses_and_names_make_setup() -> None:
    with pytest.raises(SpecError, match="promtool .* is not installed.*make setup"):
        check_syntax({"slos[0]": "sum(up)"}, file="d.yaml", which=lambda name: None)


def test_drill_queries_cover_slos_and_prometheus_guards_only(tmp_path: Path) -> None:
    spec = DrillSpec.model_validate(yaml.safe_load(drill(tmp_path, slos=[{"name": "e", "kind": "error_ratio", "max_ratio": 0.1}],
        abort=[{"name": "p", "source": "prometheus", "signal": "backends_up", "below": 1},
               {"name": "l", "source": "loadgen", "signal": "error_ratio", "above": 0.5}]).read_text()))  # fmt: skip
    assert list(drill_queries(spec)) == ["slos[0] (e)", "abort[0] (p)"]
