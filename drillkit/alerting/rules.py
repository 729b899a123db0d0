"""Alert rule files: drillkit's reference rules, the user's, and promtool's verdict on both.

``check_rules`` runs ``promtool check rules`` and ``test_rules`` runs ``promtool test rules``;
either failure is a SpecError that names the file and carries promtool's own words (exit 2).
``drillkit validate`` runs both for an environment with ``alerting:``; ``drillkit up`` checks
the rules again before the embedded Prometheus loads them.

>>> [p.name for p in rule_files(AlertingSpec())]
['recommender.rules.yml']
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from drillkit.errors import MissingDependencyError, SpecError
from drillkit.spec.alerting import AlertingSpec

REFERENCE_DIR = Path(__file__).parent / "rules"
REFERENCE_RULES = REFERENCE_DIR / "recommender.rules.yml"
REFERENCE_TESTS = REFERENCE_DIR / "recommender.test.yml"
PROMTOOL_TIMEOUT_S = 60.0


def rule_files(spec: AlertingSpec) -> list[Path]:
    """Every rule file the embedded Prometheus loads: the reference rules (unless turned off), then the user's."""
    return ([REFERENCE_RULES] if spec.reference_rules else []) + [Path(p) for p in spec.rule_files]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise MissingDependencyError("promtool not found on PATH: run `make setup` (the Debian package prometheus has it)")
    return found


def check_rules(files: list[Path], *, field: str = "alerting.rule_files") -> None:
    """``promtool check rules``: each file must parse, and every expression and template must be valid."""
    for path in files:
        _exists(path, field)
        _run([promtool(), "check", "rules", str(path)], path, field, "fix the rule it names; `promtool check rules FILE` shows the same")


def test_rules(files: list[Path], *, field: str = "alerting.rule_tests") -> None:
    """``promtool test rules``: every unit test of the rules must pass (rule_files inside a test
    file are relative to it, as promtool reads them)."""
    for path in files:
        _exists(path, field)
        _run([promtool(), "test", "rules", path.name], path, field, "fix the rule or the test; `promtool test rules FILE` shows the same",
             cwd=path.parent)  # fmt: skip


def validate_alerting(spec: AlertingSpec) -> None:
    """What ``drillkit validate`` checks of an ``alerting:`` section: the rules and their tests."""
    check_rules([Path(p) for p in spec.rule_files])
    test_rules([Path(p) for p in spec.rule_tests])


def alert_names(files: list[Path]) -> set[str]:
    """The alerts the rule files define (files promtool accepted; anything else is skipped)."""
    names = set()
    for path in files:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        groups = data.get("groups") if isinstance(data, dict) else None
        for group in groups if isinstance(groups, list) else []:
            rules = group.get("rules") if isinstance(group, dict) else None
            names |= {r["alert"] for r in (rules if isinstance(rules, list) else []) if isinstance(r, dict) and isinstance(r.get("alert"), str)}
    return names


def _exists(path: Path, field: str) -> None:
    if not path.is_file():
        raise SpecError(str(path), field, "not a file", "give the path of a Prometheus rule file, relative to the working directory")


def _run(command: list[str], path: Path, field: str, fix: str, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S, cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        raise SpecError(str(path), field, f"promtool took over {PROMTOOL_TIMEOUT_S:g} s", "make the file smaller") from None
    if done.returncode != 0:
        said = " ".join((done.stderr.strip() or done.stdout.strip()).split())
        raise SpecError(str(path), field, f"promtool {command[1]} {command[2]} failed: {said[:600]}", fix)
