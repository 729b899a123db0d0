"""``drillkit alerting check`` and ``drillkit grafana dashboard``: the rules through promtool, and
the committed Grafana dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from drillkit.cli._app import DEFAULT_ENV, EnvOption, JsonOption, app, out
from drillkit.errors import SpecError

alerting_app = typer.Typer(no_args_is_help=True, help="Alert rules: promtool's check and unit tests.")
app.add_typer(alerting_app, name="alerting", rich_help_panel="Reports")
grafana_app = typer.Typer(no_args_is_help=True, help="Grafana: the dashboard for the reference deployment and the drills.")
app.add_typer(grafana_app, name="grafana", rich_help_panel="Reports")


@alerting_app.command("check")
def check(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Check every rule file the environment loads with promtool, and run their unit tests (exit 2 naming what fails)."""
    from drillkit.alerting import rules
    from drillkit.spec import load_environment

    spec = load_environment(env)
    if spec.alerting is None:
        raise SpecError(str(env), "alerting", "the environment has no alerting: section", "add one (README: Verify your alerting)")
    files = rules.rule_files(spec.alerting)
    tests = ([rules.REFERENCE_TESTS] if spec.alerting.reference_rules else []) + [Path(p) for p in spec.alerting.rule_tests]
    rules.check_rules(files)
    rules.test_rules(tests)
    names = sorted(rules.alert_names(files))
    if as_json:
        out.print_json(json.dumps({"rule_files": [str(p) for p in files], "rule_tests": [str(p) for p in tests], "alerts": names}))
        return
    out.print(f"{len(files)} rule file(s) checked, {len(tests)} test file(s) passed; alerts: {', '.join(names) or '(none)'}")


@grafana_app.command("dashboard")
def dashboard(output: Annotated[Path | None, typer.Option("--out", "-o", help="Write it here instead of printing it.")] = None) -> None:
    """Print (or write) the Grafana dashboard, generated with Grafana's foundation SDK."""
    from drillkit.grafana.dashboard import dashboard_json

    text = dashboard_json()
    if output is None:
        out.out(text, end="", highlight=False)
    else:
        output.write_text(text)
        out.print(f"wrote {output}")
