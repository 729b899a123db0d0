"""The local platform's state folder: private, never followed through a link, never trusted
for a path it can derive (a forged workspace must not be deleted by ``down``)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from drillkit.chaos.undo import undo_pending
from drillkit.errors import ExitCode, SpecError
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.local_state import exclusive, load_state, new_state, save_state
from drillkit.private import private_dir
from drillkit.spec import load_environment
from drillkit.undo import UndoLog

ENV = "name: hostile\nstate_dir: {state}\nregions:\n  - {{name: primary, role: primary}}\n  - {{name: standby, role: standby}}\n"


def platform(tmp_path: Path) -> LocalPlatform:
    env = tmp_path / "env.yaml"
    env.write_text(ENV.format(state=tmp_path / "state"))
    # /bin/false as the interpreter: a restarted node exits at once instead of starting Triton
    return LocalPlatform(load_environment(env), spec_file=str(env), python="/bin/false", start_timeout_s=5)


def dead_process() -> dict[str, Any]:
    """The record of a process that has exited (this test started and reaped it)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return {"name": "node primary-0", "pid": child.pid, "start_ticks": 1, "command": ["true"], "log": "/tmp/x.log"}


def forge_state(p: LocalPlatform, **node: Any) -> None:
    state = json.loads(new_state(p.name, None, "v1").model_dump_json())
    state["nodes"] = [{"name": "primary-0", "region": "primary", "http_port": 1, "grpc_port": 2, "metrics_port": 3,
                       "process": dead_process(), **node}]  # fmt: skip
    p.root.mkdir(parents=True, exist_ok=True)
    p.state_path.write_text(json.dumps(state))


def precious(tmp_path: Path) -> Path:
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "data").write_text("keep me")
    return victim


def test_down_does_not_delete_a_workspace_path_forged_into_the_state(tmp_path: Path) -> None:
    p = platform(tmp_path)
    victim = precious(tmp_path)
    forge_state(p, workspace=str(victim), repository=str(victim))
    (p.root / "workspace" / "primary-0").mkdir(parents=True)  # the real, derived one
    assert p.down() == ["node primary-0"]
    assert (victim / "data").read_text() == "keep me"
    assert not (p.root / "workspace" / "primary-0").exists()


def test_the_restart_nodes_undo_does_not_delete_a_forged_workspace(tmp_path: Path) -> None:
    p = platform(tmp_path)
    victim = precious(tmp_path)
    forge_state(p, workspace=str(victim))
    p.undo_log().record("kill_node", "restart_nodes", {"nodes": ["primary-0"]})
    [done] = undo_pending(p)
    assert "exited during start-up" in done["error"]  # /bin/false: the node cannot start here
    assert (victim / "data").read_text() == "keep me"


@pytest.mark.parametrize("name", ["../../precious", "/tmp", "a/b", "x\n"])
def test_a_node_name_that_is_not_a_folder_name_is_refused_before_anything_is_removed(tmp_path: Path, name: str) -> None:
    p = platform(tmp_path)
    victim = precious(tmp_path)
    forge_state(p, name=name)
    with pytest.raises(SpecError, match=r"state\.json: nodes\.0\.name") as raised:
        p.down()
    assert raised.value.exit_code is ExitCode.INVALID_INPUT
    assert (victim / "data").read_text() == "keep me"


def test_a_workspace_that_is_a_planted_link_is_removed_not_followed(tmp_path: Path) -> None:
    p = platform(tmp_path)
    victim = precious(tmp_path)
    forge_state(p)
    (p.root / "workspace").mkdir()
    (p.root / "workspace" / "primary-0").symlink_to(victim)
    p.down()
    assert (victim / "data").read_text() == "keep me" and not (p.root / "workspace" / "primary-0").is_symlink()


def test_a_garbage_state_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"\xff\xfe{garbage")
    with pytest.raises(SpecError, match=r"state\.json: \(state\): Invalid JSON"):
        load_state(path)


# -- modes and links ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_state_folder_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    p = platform(tmp_path)
    with exclusive(p.root / "lock", p.name):
        save_state(p.state_path, new_state(p.name, None, "v1"))
    p.undo_log().record("partition_region", "clear_network", {"nodes": ["primary-0"]})
    assert mode(p.root) == 0o700
    assert {name: mode(p.root / name) for name in ("lock", "state.json", "undo.jsonl")} == dict.fromkeys(
        ("lock", "state.json", "undo.jsonl"), 0o600
    )


def test_an_existing_open_state_folder_is_closed(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o777)
    private_dir(folder)
    assert mode(folder) == 0o700


def test_a_state_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    with pytest.raises(SpecError, match=r"state_dir: belongs to uid \d+, not to you") as raised:
        private_dir(folder, uid=os.geteuid() + 1)  # as the other user would see it
    assert raised.value.exit_code is ExitCode.INVALID_INPUT


def test_a_state_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "real")
    with pytest.raises(SpecError, match="is a symbolic link"):
        private_dir(tmp_path / "state")


def test_an_environment_whose_state_folder_is_a_planted_link_is_refused_before_it_is_followed(tmp_path: Path) -> None:
    victim = precious(tmp_path)
    (victim / "prometheus").mkdir()  # `up` clears <state>/prometheus: here it would be the victim's
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "hostile").symlink_to(victim)
    with pytest.raises(SpecError, match=r"state_dir: .*hostile is a symbolic link"):
        platform(tmp_path)
    assert sorted(p.name for p in victim.iterdir()) == ["data", "prometheus"] and mode(victim) != 0o700


@pytest.mark.parametrize("name", ["state.json", "undo.jsonl", "lock", ".state.json.tmp", "state.tmp"])
def test_no_state_file_is_written_or_read_through_a_link(tmp_path: Path, name: str) -> None:
    p = platform(tmp_path)
    private_dir(p.root)
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0\n")
    (p.root / name).symlink_to(target)
    act = {
        "state.json": lambda: load_state(p.state_path),
        "undo.jsonl": lambda: UndoLog(p.root / "undo.jsonl").record("f", "clear_network", {"nodes": []}),
        "lock": lambda: exclusive(p.root / "lock", p.name).__enter__(),
    }.get(name, lambda: save_state(p.state_path, new_state(p.name, None, "v1")))
    if name.endswith(".tmp"):
        act()  # a link planted where the temporary goes (now, or in an older version) is not written through
        assert load_state(p.state_path) is not None
    else:
        with pytest.raises(SpecError, match="is a symbolic link"):
            act()
    assert target.read_text() == "root:x:0:0\n"


def test_a_forged_undo_record_is_an_input_error_naming_its_line(tmp_path: Path) -> None:
    log = UndoLog(tmp_path / "undo.jsonl")
    log.record("f", "clear_network", {"nodes": []})
    with open(log.path, "a") as f:
        f.write(json.dumps({"op": "record", "id": 5, "fault": [], "undo": "x"}) + "\n")
    with pytest.raises(SpecError, match=r"undo\.jsonl:2: id"):
        log.entries()
