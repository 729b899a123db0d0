"""Scheduled backups: a baseline at once, one per period, failures logged and retried, retention
applied; the ``python -m drillkit.backup.scheduler`` process ends on SIGTERM or when its
environment's state file is gone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.scheduler import ScheduleConfig, Scheduler, schedule_config
from drillkit.backup.store import BackupStore
from drillkit.spec import BackupSpec, EnvironmentSpec, RegionRole, RegionSpec, StoreSpec

if TYPE_CHECKING:
    from tests.unit.backup_fixtures import MakeRepo

pytest_plugins = ["tests.unit.backup_fixtures"]  # the repositories and both stores


def config(tmp_path: Path, repo: Path, **extra: object) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"environment": "t", "region": "primary", "repository": repo, "every_s": 0.05,
                                          "store": StoreSpec(path=tmp_path / "store"), "default_root": tmp_path / "unused", **extra})  # fmt: skip


def test_a_backup_per_period_and_a_failure_is_logged_then_retried(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    lines: list[str] = []
    scheduler = Scheduler(config(tmp_path, repo), store, log=lines.append)
    assert scheduler.run(max_runs=2) == 2 and len(store.list()) == 2
    (repo / "v1").rename(tmp_path / "v1-gone")  # the repository is lost: backups fail, none is committed
    assert scheduler.run_once() is None and "holds no model version" in lines[-1]
    make_repo(repo, "v2")
    assert scheduler.run_once() is not None
    assert [list(b.versions) for b in store.list()] == [["v2"], ["v1"], ["v1"]]


def test_retention_is_applied_after_each_backup(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    Scheduler(config(tmp_path, repo, keep_last=2), store, log=lambda _: None).run(max_runs=4)
    assert len(store.list()) == 2


def test_it_exits_when_the_environment_is_gone(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    lines: list[str] = []
    runs = Scheduler(config(tmp_path, repo, state_file=tmp_path / "state.json"), BackupStore(LocalBlobs(tmp_path / "store")),
                     log=lines.append).run(max_runs=5)  # fmt: skip
    assert runs == 0 and "environment is down" in lines[0]


def test_the_config_comes_from_the_environment_spec(tmp_path: Path) -> None:
    env = EnvironmentSpec(name="e", state_dir=tmp_path, regions=(RegionSpec(name="a", role=RegionRole.PRIMARY),
                          RegionSpec(name="b", role=RegionRole.STANDBY)), backup=BackupSpec(every="2m", region="b", keep_days=3))  # fmt: skip
    c = schedule_config(env, state_root=tmp_path / "e", repository=tmp_path / "repo", state_file=tmp_path / "s.json")
    assert (c.region, c.every_s, c.keep_days, c.keep_last, c.default_root) == ("b", 120.0, 3.0, None, tmp_path / "e" / "backups")


def test_the_scheduler_process_backs_up_and_ends_on_sigterm(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "v1")
    state = tmp_path / "state.json"
    state.write_text("{}")
    path = tmp_path / "schedule.json"
    path.write_text(config(tmp_path, repo, every_s=0.2, state_file=state).model_dump_json())
    child = subprocess.Popen([sys.executable, "-m", "drillkit.backup.scheduler", "--config", str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        store = BackupStore(LocalBlobs(tmp_path / "store"))
        deadline = time.monotonic() + 60
        while len(store.list()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(store.list()) >= 2
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
    assert "backing up" in (child.stdout.read() if child.stdout else "")
