"""The CLI's contract with scripts: documented exit codes, errors on stderr, --json on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENV = "name: clitest\nstate_dir: {state}\nregions:\n  - {{name: primary, role: primary}}\n  - {{name: standby, role: standby}}\n"


def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "drillkit", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_a_bad_environment_file_exits_2_naming_file_field_and_fix(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(ENV.format(state=tmp_path) + "gateway: {fall: 0}\n")
    done = drillkit("up", "--env", str(env))
    assert done.returncode == 2
    assert "env.yaml: gateway.fall" in done.stderr and "fix:" in done.stderr


def test_status_json_of_an_environment_that_is_not_up(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(ENV.format(state=tmp_path))
    done = drillkit("status", "--env", str(env), "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["environment"] == "clitest" and status["up"] is False and status["components"] == []


def test_commands_that_need_a_running_environment_exit_4_and_say_so(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(ENV.format(state=tmp_path))
    done = drillkit("smoke", "--env", str(env))
    assert done.returncode == 4
    assert "not up: run `drillkit up` first" in done.stderr
    assert drillkit("down", "--env", str(env)).stdout.strip() == "nothing was running"


def test_an_unknown_option_is_a_usage_error_with_exit_2() -> None:
    done = drillkit("up", "--no-such-option")
    assert done.returncode == 2


def test_a_drill_can_be_validated_against_another_environment(tmp_path: Path) -> None:
    env = tmp_path / "other.yaml"
    env.write_text(ENV.format(state=tmp_path) + "gateway: {retries: 99}\n")
    done = drillkit("validate", "drills/node-crash.yaml", "--env", str(env))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "other.yaml: gateway.retries" in done.stderr  # the override was read, not the drill's own environment
    assert drillkit("validate", "drills/node-crash.yaml", "--env", "drills/environments/local.yaml").returncode == 0
