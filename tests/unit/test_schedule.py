"""Scheduling: the CronJob validates against the Kubernetes schema; the crontab line is safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from drillkit.errors import SpecError
from drillkit.schedule import cronjob, crontab_line, validate_cron

REPO = Path(__file__).resolve().parents[2]
K8S = "1.30"


def test_the_cronjob_is_valid_for_kubernetes_and_forbids_overlaps() -> None:
    manifest = cronjob("drills/suites/nightly.yaml", schedule="0 3 * * *", image="registry.local/drillkit:1.2", pvc="results",
                       namespace="sre")  # fmt: skip
    kubernetes_validate.validate(manifest, K8S, strict=True)  # raises on any schema error (offline, bundled schemas)
    spec = manifest["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("0 3 * * *", "Forbid")
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == ["drillkit", "suite", "drills/suites/nightly.yaml", "--reports", "/results"]
    assert pod["containers"][0]["image"] == "registry.local/drillkit:1.2"
    assert pod["volumes"] == [{"name": "results", "persistentVolumeClaim": {"claimName": "results"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "results", "mountPath": "/results"}]


def test_the_validator_catches_a_broken_manifest() -> None:
    manifest = cronjob("drills/suites/nightly.yaml", schedule="@daily")
    manifest["spec"]["concurrencyPolicy"] = ["Forbid"]  # a list where a string belongs
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, K8S, strict=True)


@pytest.mark.parametrize(("expression", "field"), [("0 3 * *", "schedule"), ("61 3 * * *", "minute"), ("0 24 * * *", "hour"),
                                                     ("0 3 0 * *", "day of month"), ("0 3 * foo *", "month"),
                                                     ("*/0 * * * *", "minute")])  # fmt: skip
def test_a_bad_cron_expression_names_the_field(expression: str, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_cron(expression)
    assert caught.value.field == field


def test_good_cron_expressions_pass() -> None:
    for expression in ("0 3 * * *", "*/15 1-5 1,15 jan-jun mon-fri", "@hourly", "0 0 * * 7"):
        assert validate_cron(expression) == expression


def test_the_crontab_line_changes_directory_locks_and_logs() -> None:
    line = crontab_line("drills/suites/nightly.yaml", schedule="30 2 * * 1-5", repo=Path("/srv/dr kit"))
    assert line.startswith("30 2 * * 1-5 cd '/srv/dr kit' && mkdir -p -m 700 reports/.lock && chmod 700 reports/.lock && "
                           "flock -n reports/.lock/suite.lock .venv/bin/drillkit suite")  # fmt: skip
    assert line.endswith(">> reports/cron.log 2>&1")


def test_the_cli_prints_a_manifest_that_validates() -> None:
    command = [sys.executable, "-m", "drillkit", "schedule", "drills/suites/smoke.yaml"]
    done = subprocess.run([*command, "--cron", "0 3 * * *"], capture_output=True, text=True, check=False, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    kubernetes_validate.validate(yaml.safe_load(done.stdout), K8S, strict=True)
    bad = subprocess.run([*command, "--cron", "0 3 * *"], capture_output=True, text=True, check=False, cwd=REPO, timeout=120)
    assert bad.returncode == 2 and "cron schedule has 5" in bad.stderr
