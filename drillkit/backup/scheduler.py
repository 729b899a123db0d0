"""Scheduled backups while an environment is up: ``python -m drillkit.backup.scheduler --config FILE``.

``drillkit up`` starts this as a supervised child when the environment spec sets
``backup.every``; ``drillkit down`` ends it. It backs up the region's repository at once
(a baseline) and then every ``every`` seconds, pruning after each backup when a retention
rule is set. A failed backup (the repository is gone or corrupted, the store unreachable)
is logged and retried at the next tick; it never commits a manifest. It exits by itself
when the environment's state file disappears or after ``max_runtime_s``.

>>> Scheduler(config, store).run(max_runs=1)   # doctest: +SKIP
1
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from drillkit.backup.config import backup_spec, open_store, source_of
from drillkit.backup.errors import BackupError
from drillkit.backup.manifest import BackupManifest, Source
from drillkit.backup.retention import prune
from drillkit.backup.store import BackupStore
from drillkit.errors import DrillkitError
from drillkit.spec import EnvironmentSpec, StoreSpec

MAX_RUNTIME_S = 30 * 86_400.0


class ScheduleConfig(BaseModel):
    """What the scheduler process needs (written by ``up``; holds no credentials)."""

    model_config = ConfigDict(frozen=True)

    environment: str
    region: str
    repository: Path
    every_s: float
    store: StoreSpec
    default_root: Path  # a local store without a path lives here
    keep_last: int | None = None
    keep_days: float | None = None
    state_file: Path | None = None  # gone -> the environment is down: exit
    max_runtime_s: float = MAX_RUNTIME_S

    def source(self) -> Source:
        return Source(environment=self.environment, region=self.region)


def schedule_config(env: EnvironmentSpec, *, state_root: Path, repository: Path, state_file: Path) -> ScheduleConfig:
    """The scheduler's config for ``env`` (whose ``backup.every`` is set)."""
    spec = backup_spec(env)
    source = source_of(env)
    return ScheduleConfig(environment=env.name, region=source.region, repository=repository, every_s=spec.every or 0.0,
                          store=spec.store, default_root=state_root / "backups", keep_last=spec.keep_last,
                          keep_days=spec.keep_days, state_file=state_file)  # fmt: skip


class Scheduler:
    """Back up every ``config.every_s`` until told to stop.

    Attributes:
        config: what to back up, where, how often.
        store: the backup store (injected).
        stop: set it to end the loop (the SIGTERM handler does).
        log: where progress lines go.
    """

    def __init__(self, config: ScheduleConfig, store: BackupStore, *, log: Callable[[str], None] = print,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.config, self.store, self.log, self.monotonic = config, store, log, monotonic
        self.stop = threading.Event()

    def run_once(self) -> BackupManifest | None:
        """One backup (and prune); a failure is logged and returns None."""
        started = self.monotonic()
        try:
            backup = self.store.create(self.config.repository, self.config.source())
        except (DrillkitError, OSError) as exc:
            self.log(f"backup of {self.config.repository} failed: {exc}")
            return None
        self.log(f"backup {backup.id}: versions {', '.join(backup.versions)}, {len(backup.files)} files, "
                 f"{backup.new_objects} new objects ({backup.new_bytes / 1e6:.1f} MB) in {self.monotonic() - started:.2f} s")  # fmt: skip
        if self.config.keep_last or self.config.keep_days:
            self._prune()
        return backup

    def run(self, max_runs: int | None = None) -> int:
        """Back up now and then every ``every_s``; return the number of attempts."""
        deadline = self.monotonic() + self.config.max_runtime_s
        runs = 0
        while not self.stop.is_set() and (max_runs is None or runs < max_runs) and self.monotonic() < deadline:
            if self.config.state_file is not None and not self.config.state_file.exists():
                self.log(f"{self.config.state_file} is gone: the environment is down; exiting")
                break
            self.run_once()
            runs += 1
            if max_runs is None or runs < max_runs:
                self.stop.wait(self.config.every_s)
        return runs

    def _prune(self) -> None:
        try:
            report = prune(self.store, keep_last=self.config.keep_last, keep_days=self.config.keep_days)
        except (BackupError, OSError) as exc:
            self.log(f"prune failed: {exc}")
            return
        if report.deleted_backups or report.deleted_objects:
            self.log(f"pruned {len(report.deleted_backups)} backups, {report.deleted_objects} objects "
                     f"({report.freed_bytes / 1e6:.1f} MB)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drillkit.backup.scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="JSON written by `drillkit up`")
    args = parser.parse_args(argv)
    config = ScheduleConfig.model_validate_json(args.config.read_text())
    store = open_store(config.store, default_root=config.default_root)
    scheduler = Scheduler(config, store, log=lambda line: print(f"{time.strftime('%H:%M:%S')} {line}", flush=True))
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stop.set())
    signal.signal(signal.SIGINT, lambda *_: scheduler.stop.set())
    print(f"backing up {config.repository} to {store.where} every {config.every_s:g} s", flush=True)
    scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
