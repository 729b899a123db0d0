"""``drillkit backup`` / ``restore`` / ``model publish`` against an environment's region repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from drillkit.backup.manifest import object_key

pytest_plugins = ["tests.unit.backup_fixtures"]  # the repositories and both stores

ENV = """name: clibackup
state_dir: {state}
regions:
  - {{name: primary, role: primary}}
  - {{name: standby, role: standby}}
backup: {{keep_last: 5, store: {{path: {store}}}}}
"""


def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "drillkit", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def environment(tmp_path: Path) -> Path:
    env = tmp_path / "env.yaml"
    env.write_text(ENV.format(state=tmp_path / "state", store=tmp_path / "store"))
    return env


def test_create_list_verify_and_prune_from_the_command_line(built_versions: Path, tmp_path: Path) -> None:
    env = environment(tmp_path)
    published = drillkit("model", "publish", str(built_versions / "v1"), "--region", "primary", "--env", str(env))
    assert published.returncode == 0, published.stderr
    assert (tmp_path / "state/clibackup/regions/primary/models/v1/manifest.json").is_file()
    assert not (tmp_path / "state/clibackup/regions/standby/models").exists()
    created = drillkit("backup", "create", "--env", str(env), "--json")
    assert created.returncode == 0, created.stderr
    backup = json.loads(created.stdout)
    assert backup["versions"] == ["v1"] and backup["new_objects"] > 0
    listed = json.loads(drillkit("backup", "list", "--env", str(env), "--json").stdout)
    assert [b["id"] for b in listed] == [backup["id"]] and listed[0]["source"] == {"environment": "clibackup", "region": "primary"}
    manifest = json.loads((tmp_path / "store/backups" / f"{backup['id']}.json").read_text())
    weights = next(f for f in manifest["files"] if f["path"] == "v1/weights/item_embeddings.npy")
    (tmp_path / "store" / object_key(weights["sha256"])).write_bytes(b"rot")
    verified = drillkit("backup", "verify", "--env", str(env))
    assert verified.returncode == 4 and "v1/weights/item_embeddings.npy" in verified.stdout and "sha256 mismatch" in verified.stdout
    pruned = drillkit("backup", "prune", "--env", str(env), "--keep-last", "1", "--grace", "0", "--json")
    assert pruned.returncode == 0 and json.loads(pruned.stdout)["kept"] == [backup["id"]]


def test_restore_needs_a_running_environment_and_regions_are_checked(built_versions: Path, tmp_path: Path) -> None:
    env = environment(tmp_path)
    done = drillkit("restore", "--to", "primary", "--env", str(env))
    assert done.returncode == 4 and "not up" in done.stderr
    done = drillkit("model", "publish", str(built_versions / "v1"), "--region", "nowhere", "--env", str(env))
    assert done.returncode == 2 and "no region 'nowhere'" in done.stderr and "use one of primary, standby" in done.stderr
