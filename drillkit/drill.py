"""Run one drill, in one straight line (DESIGN.md, "The path of one drill"):

plan -> environment up or attached -> load -> warm-up -> capacity pre-check -> chaoslib runs
the experiment (a control writes every activity to the timeline) -> every pending undo
(always: errors, Ctrl-C, SIGTERM) -> cool-down -> load stopped -> measure -> journal.json
-> report.pdf -> exit code. Only one drill runs per environment at a time.

>>> result = run_drill(plan_drill("drills/region-outage.yaml"), reports=Path("reports"))  # doctest: +SKIP
>>> result.exit_code                                                                    # doctest: +SKIP
<ExitCode.OK: 0>
"""

from __future__ import annotations

import copy
import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit import capacity
from drillkit.chaos.context import REQUEST_LOG_KEY
from drillkit.chaos.undo import undo_pending
from drillkit.errors import EnvironmentFailure, ExitCode, NotUpError
from drillkit.journal import finish_journal
from drillkit.load import Load, LoadPlan
from drillkit.model.repository import Manifest, verify
from drillkit.plan import DrillPlan
from drillkit.platforms import Platform, open_platform
from drillkit.platforms.base import EnvironmentStatus
from drillkit.timeline import append_line
from drillkit.watch import Canary, GatewayWatcher


class DrillBusyError(EnvironmentFailure):
    """Another drill holds the environment."""


class CapacityRefused(EnvironmentFailure):
    """The standby cannot take the load; nothing was injected (``--force`` overrides)."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class DrillResult:
    run_dir: Path
    exit_code: ExitCode
    journal: dict[str, Any]


def run_drill(plan: DrillPlan, *, reports: Path = Path("reports"), force: bool = False) -> DrillResult:
    """Run the planned drill and write its run folder; see the module docstring."""
    platform = open_platform(plan.environment, spec_file=str(plan.spec.environment))
    run_dir = reports / f"{plan.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    timeline = run_dir / "timeline.jsonl"
    with _drill_lock(platform):
        started_env = _ensure_up(platform, plan)
        try:
            return _run(plan, platform, run_dir, timeline, force)
        finally:
            if started_env:
                platform.down()


def _run(plan: DrillPlan, platform: Platform, run_dir: Path, timeline: Path, force: bool) -> DrillResult:
    status = platform.status()
    manifest = verify(platform.root.parent / "models" / plan.environment.model.version)
    _event(timeline, "drill_started", drill=plan.spec.name)
    load = Load(LoadPlan(trace=plan.spec.load.trace, host=status.gateway_url or "", run_dir=run_dir,
                         speed=plan.spec.load.speed, processes=plan.spec.load.processes,
                         metrics_dir=Path(status.loadgen_targets_dir) if status.loadgen_targets_dir else None))  # fmt: skip
    watchers = [GatewayWatcher(platform.gateway_states, timeline), Canary(status.gateway_url or "", manifest, timeline)]
    chaos_journal: dict[str, Any] = {}
    undone: list[dict[str, Any]] = []
    interrupted = False
    capacity_report: dict[str, Any] | None = None
    load_undo = None
    completed = False  # an error skips the cool-down and propagates
    refusal: CapacityRefused | None = None
    try:
        load.start()
        assert load.process is not None
        # A runner killed outright must not leave its load running: `drillkit recover` ends it.
        load_undo = platform.undo_log().record("load", "stop_process", {"process": load.process.model_dump(mode="json")})
        load.wait_sending()
        for w in watchers:
            w.start()
        capacity_report = _warm_up(plan, platform, status, manifest, load, timeline, force)
        chaos_journal = _experiment(plan, load, timeline)
        interrupted = chaos_journal.get("status") == "interrupted"
        completed = True
    except KeyboardInterrupt:
        interrupted = True
    except CapacityRefused as exc:
        refusal, capacity_report = exc, exc.report  # nothing was injected; the journal records why
    finally:
        undone = _rollback(platform, timeline)
        if completed and not interrupted:
            _cooldown(plan, timeline)
        load.stop()
        if load_undo is not None:
            platform.undo_log().done(load_undo.id)
        for w in watchers:
            w.stop()
        _event(timeline, "drill_ended", interrupted=interrupted)
    journal = finish_journal(plan, run_dir, chaos_journal=chaos_journal, undone=undone, capacity=capacity_report,
                             interrupted=interrupted)  # fmt: skip
    if refusal is not None:
        raise refusal
    return DrillResult(run_dir, ExitCode(journal["exit_code"]), journal)


def _warm_up(plan: DrillPlan, platform: Platform, status: EnvironmentStatus, manifest: Manifest, load: Load,
             timeline: Path, force: bool) -> dict[str, Any]:  # fmt: skip
    primary = [n for n in status.nodes(plan.environment.primary.name)]
    before = {n.name: capacity.counters(n) for n in primary}
    sent_before, started = load.progress().sent, time.monotonic()
    time.sleep(plan.spec.load.warmup_s)
    rate = (load.progress().sent - sent_before) / max(time.monotonic() - started, 1e-6)
    after = {n.name: capacity.counters(n) for n in primary}
    standby = [r.name for r in plan.environment.standbys]
    report = capacity.check(platform.status(), standby, manifest, {n: (before[n], after[n]) for n in before}, rate)
    _event(timeline, "capacity_checked", **report.as_dict())
    if not report.ok and plan.spec.fail_on.capacity and not force:
        raise CapacityRefused(f"refusing to inject: {report.reason} (use --force to inject anyway)", report.as_dict())
    return report.as_dict()


def _experiment(plan: DrillPlan, load: Load, timeline: Path) -> dict[str, Any]:
    from chaoslib.experiment import run_experiment

    experiment = copy.deepcopy(plan.experiment)
    experiment["configuration"][REQUEST_LOG_KEY] = str(load.plan.request_log)
    experiment.setdefault("controls", []).append({
        "name": "drillkit-timeline",
        "provider": {"type": "python", "module": "drillkit.chaos.control", "arguments": {"timeline": str(timeline)}},
    })  # fmt: skip
    _event(timeline, "experiment_started", title=experiment.get("title"))
    journal = run_experiment(experiment, settings={})
    _event(timeline, "experiment_ended", status=journal.get("status"), deviated=journal.get("deviated"))
    return journal


def _rollback(platform: Platform, timeline: Path) -> list[dict[str, Any]]:
    _event(timeline, "rollback_started")
    try:
        undone = undo_pending(platform)
    except NotUpError as exc:
        undone = [{"fault": "-", "undo": "-", "args": {}, "error": str(exc)}]
    _event(timeline, "rollback_ended", undone=undone)
    return undone


def _cooldown(plan: DrillPlan, timeline: Path) -> None:
    _event(timeline, "cooldown_started")
    time.sleep(plan.spec.load.cooldown_s)


def _ensure_up(platform: Platform, plan: DrillPlan) -> bool:
    if platform.status().up:
        return False
    if not plan.spec.bring_up:
        raise NotUpError(f"environment {platform.name!r} is not up and the drill says bring_up: false; run `drillkit up`")
    platform.up()
    return True


@contextmanager
def _drill_lock(platform: Platform) -> Iterator[None]:
    path = platform.root / "drill.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DrillBusyError(f"another drill is running on environment {platform.name!r} ({path}); one at a time") from None
        yield


def _event(timeline: Path, event: str, **fields: Any) -> None:
    append_line(timeline, {"event": event, "at": time.time(), **fields})
