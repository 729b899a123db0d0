"""Run one drill, in one straight line (DESIGN.md, "The path of one drill"):

plan -> environment up or attached -> load -> warm-up (until Prometheus scrapes the load) ->
capacity pre-check -> settle (a latency SLO's window, so its burst is out of the points judged)
-> chaoslib runs the experiment (a control writes every activity to the timeline; abort guards
may stop it) -> every pending undo (always: errors, Ctrl-C, SIGTERM, an abort) -> cool-down ->
load stopped -> Prometheus range data collected once -> measure -> journal.json -> report.pdf
-> exit code. Only one drill runs per environment at a time.

>>> result = run_drill(plan_drill("drills/region-outage.yaml"), reports=Path("reports"))  # doctest: +SKIP
>>> result.exit_code                                                                    # doctest: +SKIP
<ExitCode.OK: 0>
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit import capacity, try_timeout
from drillkit.alerting.receiver import Receiver, parse_listen
from drillkit.alerting.section import alerting_section
from drillkit.alerting.watch import AlertWatcher, unsettled_until
from drillkit.autoscale import Autoscaler, loadgen_p99, prometheus_p99
from drillkit.chaos.context import pin_environment
from drillkit.chaos.run import guard_signals, run_guarded, stop_experiment
from drillkit.chaos.undo import undo_pending
from drillkit.errors import EnvironmentFailure, ExitCode, NotUpError, SpecError
from drillkit.evaluate import RunRecord, finish
from drillkit.events import ActivityEnded, fault_window, fire, read_events
from drillkit.journal import Journal
from drillkit.load import Load, LoadPlan
from drillkit.observe.evidence import collect
from drillkit.observe.guards import Abort, GuardWatch
from drillkit.observe.scrape import prometheus_for, wait_for_loadgen
from drillkit.plan import DrillPlan
from drillkit.platforms import Platform, open_platform
from drillkit.platforms.base import Capability, Health
from drillkit.report.history import HISTORY_NAME, History, record_run
from drillkit.spec.alerting import AlertingSpec
from drillkit.spec.autoscale import AutoscaleSpec
from drillkit.undo import UndoEntry
from drillkit.watch import Canary, GatewayWatcher, Loop
from drillkit.workload.golden import golden_of, golden_of_attached

MAX_ALERT_WAIT_S = 600.0  # the longest a drill waits after its cool-down for alerts to fire or resolve
SCRAPE_WAIT_S = 15.0  # the embedded Prometheus' first scrape takes about 5 s; give it room
ENVIRONMENT_SNAPSHOT = "environment.yaml"  # the environment as planned, which the activities read


class DrillBusyError(EnvironmentFailure):
    """Another drill holds the environment."""


class CapacityRefused(EnvironmentFailure):
    """The standby cannot take the load; nothing was injected (``--force`` overrides)."""

    def __init__(self, message: str, report: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.report = report


class VersionSkewRefused(CapacityRefused):
    """The nodes serve different model versions (or not the environment's): a failover would land
    on another model. Nothing was injected (``--force`` overrides; ``fail_on.version_skew: false``)."""


@dataclass(frozen=True)
class DrillResult:
    run_dir: Path
    exit_code: ExitCode
    journal: Journal


def run_drill(plan: DrillPlan, *, reports: Path = Path("reports"), force: bool = False,
              history: Path | None = None) -> DrillResult:  # fmt: skip
    """Run the planned drill and write its run folder; see the module docstring.

    The run is appended to ``history`` (default ``reports/history.sqlite``); a suite passes
    the store of its own reports folder, since its run folders sit one level deeper.
    """
    platform = open_platform(plan.environment, spec_file=str(plan.spec.environment))
    run_dir = reports / f"{plan.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    with drill_lock(platform), guard_signals():
        started_env = _ensure_up(platform, plan)
        try:
            return DrillRun(plan, platform, run_dir, force=force, history=history or reports / HISTORY_NAME).execute()
        finally:
            record_run(history or reports / HISTORY_NAME, run_dir)  # every run, a refused one too; the history never fails a drill
            if started_env:
                platform.down()


class DrillRun:
    """One drill in progress: what its steps share (as Locust's ``Environment`` owns a run).

    Attributes:
        plan: the validated drill.
        platform: where it runs.
        run_dir, timeline: its output folder and the timeline file in it.
        status: the environment when the drill started.
        golden: the served model version's golden answers.
        load: the trace replay.
        prom: the environment's Prometheus (None when it has none).
        guards: the abort guards (None when the drill has none).
        watchers: background watchers (gateway state, canary, guards).
        force: inject even when the capacity pre-check refuses.
        history: the history store, where the pre-check finds the standby's measured knee.
    """

    def __init__(self, plan: DrillPlan, platform: Platform, run_dir: Path, *, force: bool = False,
                 history: Path | None = None) -> None:  # fmt: skip
        self.plan, self.platform, self.run_dir, self.force, self.history = plan, platform, run_dir, force, history
        self.timeline = run_dir / "timeline.jsonl"
        self.status = platform.status()
        version_dir = platform.root.parent / "models" / plan.environment.model.version
        self.golden = golden_of_attached(version_dir) if plan.environment.attached else golden_of(version_dir)
        targets = self.status.loadgen_targets_dir
        self.load = Load(LoadPlan(trace=plan.spec.load.trace, host=self.status.gateway_url or "", run_dir=run_dir,
                                  speed=plan.spec.load.speed, processes=plan.spec.load.processes,
                                  metrics_dir=Path(targets) if targets else None,
                                  reference_version=plan.environment.model.version))  # fmt: skip
        self.prom = prometheus_for(plan.environment, self.status)
        self.guards = GuardWatch(plan.spec.abort, prom=self.prom, live=self.load.recent, timeline=self.timeline,
                                 on_trip=stop_experiment) if plan.spec.abort else None  # fmt: skip
        self.watchers: list[Loop] = [GatewayWatcher(platform.gateway_states, self.timeline),
                                     Canary(self.status.gateway_url or "", self.golden, self.timeline)]  # fmt: skip
        if self.guards is not None:
            self.watchers.append(self.guards)
        if plan.environment.autoscale is not None:
            self.watchers.append(self._autoscaler(plan.environment.autoscale))
        self.receiver: Receiver | None = None  # drillkit's receiver, run here for an external Alertmanager
        self.alerts = self._alert_watcher(plan.environment.alerting) if plan.environment.alerting is not None else None
        if self.alerts is not None:
            self.watchers.append(self.alerts)

    def _alert_watcher(self, spec: AlertingSpec) -> AlertWatcher:
        """The alerting path's watcher: Prometheus' alerts, Alertmanager's, and the notifications the
        embedded receiver records (or a receiver this drill runs where the user routes to it)."""
        notifications = Path(self.status.notifications_file) if self.status.notifications_file else None
        if notifications is None and spec.receiver.listen is not None:
            notifications = self.run_dir / "notifications.jsonl"
            try:
                self.receiver = Receiver(parse_listen(spec.receiver.listen), notifications)
            except OSError as exc:
                raise EnvironmentFailure(f"alerting.receiver.listen {spec.receiver.listen}: cannot listen there ({exc}); "
                                         "free the port or name another") from None  # fmt: skip
        return AlertWatcher(self.timeline, prom=self.prom, alertmanager_url=self.status.alertmanager_url,
                            notifications=notifications, since=time.time(), interval_s=spec.poll_interval_s)  # fmt: skip

    def _autoscaler(self, spec: AutoscaleSpec) -> Autoscaler:
        """The environment's autoscaler, on the p99 users feel (Prometheus' when asked and there is one)."""
        use_prom = spec.signal == "prometheus_p99" and self.prom is not None
        signal = prometheus_p99(self.prom, spec.window_s) if use_prom and self.prom else loadgen_p99(self.load, spec.window_s)
        return Autoscaler(self.platform, spec, signal=signal, timeline=self.timeline)

    def execute(self) -> DrillResult:
        """Every step of the drill, then the journal; a capacity refusal is raised after its journal is written."""
        _event(self.timeline, "drill_started", drill=self.plan.spec.name)
        record, refusal = self._drive()
        journal = finish(self.plan, self.run_dir, record, generated_at=time.time())
        from drillkit.report.pdf import render_report  # matplotlib: imported only once a drill has run

        render_report(self.run_dir, generated_at=journal.generated_at)
        self._annotate(journal)
        if refusal is not None:
            raise refusal
        return DrillResult(self.run_dir, ExitCode(journal.exit_code), journal)

    def _annotate(self, journal: Journal) -> None:
        """The drill's fault, rollback and verdict on the Grafana the environment names; what
        Grafana answered goes to ``grafana.json`` (a Grafana that is down never fails a drill)."""
        spec = self.plan.environment.grafana
        if spec is None:
            return
        from drillkit.grafana.annotations import annotations_of, post_annotations

        results = post_annotations(spec, annotations_of(journal, tags=spec.tags))
        rows = [{"text": r.annotation.text, "ok": r.ok, "status": r.status, "error": r.error, "id": r.id} for r in results]
        (self.run_dir / "grafana.json").write_text(json.dumps(rows, indent=1))

    def _drive(self) -> tuple[RunRecord, CapacityRefused | None]:
        chaos_journal: dict[str, Any] = {}
        capacity_report: dict[str, Any] | None = None
        interrupted = completed = False  # an error skips the cool-down and propagates
        refusal: CapacityRefused | None = None
        load_undo: UndoEntry | None = None
        load_started = time.time()
        try:
            self._preflight_versions()
            load_undo = self._start_load()
            capacity_report = self._warm_up()
            chaos_journal = run_guarded(self._experiment(), request_log=self.load.plan.request_log,
                                        timeline=self.timeline, guards=self.guards, trace=self.plan.spec.load.trace,
                                        speed=self.plan.spec.load.speed)  # fmt: skip
            interrupted = chaos_journal.get("status") == "interrupted" and self._trip() is None
            completed = True
        except KeyboardInterrupt:
            interrupted = True
        except CapacityRefused as exc:
            refusal, capacity_report = exc, exc.report  # nothing was injected; the journal records why
        finally:
            self._stop_scaling()  # nothing scales out again once the rollback scales back in
            undone = self._rollback()
            if completed and not interrupted:
                self._cooldown()
                self._await_alerts()
            load_stopped = self._stop_load(load_undo)
        evidence = self._evidence(load_started, load_stopped) if not interrupted else None
        if not interrupted:
            self._audit_answers()
        trip = self._trip()
        return RunRecord(chaos_journal=chaos_journal, undone=undone, capacity=capacity_report, interrupted=interrupted,
                         evidence=evidence, abort=trip), refusal  # fmt: skip

    def _preflight_versions(self) -> None:
        """Note which version each node serves; refuse a skewed environment (before any load)."""
        expected = self.plan.environment.model.version
        nodes = {n.name: n.version or expected for n in self.status.nodes()}
        _event(self.timeline, "versions_served", expected=expected, nodes=nodes)
        skewed = sorted(n for n, v in nodes.items() if v != expected)
        if skewed and self.plan.spec.fail_on.version_skew and not self.force:
            served = ", ".join(f"{n} {nodes[n]}" for n in skewed)
            raise VersionSkewRefused(f"refusing to start: nodes serve another version than the environment's {expected} "
                                     f"({served}); finish or roll back that release, or set model.version "
                                     "(--force to run anyway)", None)  # fmt: skip

    def _audit_answers(self) -> None:
        """Judge the answers users got from another version (a release), once every node is back."""
        from drillkit.rollout.audit import audit
        from drillkit.rollout.section import ROLLOUT

        released = any(isinstance(e, ActivityEnded) and e.func == ROLLOUT for e in read_events(self.timeline))
        if not released and not any(self.load.plan.answers.glob("part-*.parquet")):
            return

        expected = self.plan.environment.model.version
        status = self.platform.status()
        node = next((n for n in status.nodes() if (n.version or expected) == expected and n.health is Health.READY), None)
        if node is None:
            _event(self.timeline, "watcher_error", watcher="answer-audit", error=f"no ready node serves {expected} to judge against")
            return
        result = audit(self.run_dir, self.plan.spec.load.trace, (node.name, node.endpoint or ""), self.golden,
                       reference_version=expected)  # fmt: skip
        _event(self.timeline, "answers_audited", **result.model_dump(mode="json"))

    def _experiment(self) -> dict[str, Any]:
        """The experiment, acting on the environment the drill was planned with (kept in the run folder)."""
        snapshot = self.run_dir / ENVIRONMENT_SNAPSHOT
        snapshot.write_text(self.plan.environment_text)
        return pin_environment(self.plan.experiment, snapshot)

    def _start_load(self) -> UndoEntry:
        self.load.start()
        assert self.load.process is not None
        # A runner killed outright must not leave its load running: `drillkit recover` ends it.
        entry = self.platform.undo_log().record("load", "stop_process", {"process": self.load.process.model_dump(mode="json")})
        self.load.wait_sending()
        self._count("load_started")
        if self.receiver is not None:
            self.receiver.start()
        for w in self.watchers:
            w.start()
        return entry

    def _warm_up(self) -> dict[str, Any]:
        plan, load = self.plan, self.load
        sent_before, started = load.progress().sent, time.monotonic()
        time.sleep(plan.spec.load.warmup_s)
        self._wait_scraped(deadline=time.monotonic() + SCRAPE_WAIT_S)
        rate = (load.progress().sent - sent_before) / max(time.monotonic() - started, 1e-6)
        standby = [r.name for r in plan.environment.standbys]
        if self.platform.lacks(Capability.NODE_ENDPOINTS) is not None:
            report = self._telemetry_capacity(standby, rate)
        else:
            report = capacity.check(self.platform.status(), standby, self.golden, rate,  # a burst of a few seconds at most
                                    try_timeouts=self.platform.try_timeouts(),
                                    warmup_p999_ms=load.latency_quantiles(try_timeout.QUANTILE), knee=self._knee(standby))  # fmt: skip
        _event(self.timeline, "capacity_checked", **report.as_dict())
        if not report.ok and plan.spec.fail_on.capacity and not self.force:
            self._count("warmed_up")
            raise CapacityRefused(f"refusing to inject: {report.reason} (use --force to inject anyway)", report.as_dict())
        time.sleep(capacity.settle_s(report, [c.window_s for c in plan.spec.slos if c.kind == "latency"]))
        self._count("warmed_up")
        return report.as_dict()

    def _telemetry_capacity(self, standby: list[str], rate: float) -> capacity.Capacity:
        """Attach mode: the user's pods are judged from the user's Triton metrics (their endpoints
        are inside the cluster, where no burst from here can reach them)."""
        from drillkit.platforms.attached import AttachedPlatform

        assert isinstance(self.platform, AttachedPlatform)
        found = {r.name: self.platform.discover(r.name) for r in self.plan.environment.regions}
        ready = sum(1 for r in standby for x in found[r].pods if x.health is Health.READY)
        versions = {x.version for f in found.values() for x in f.pods}
        return capacity.from_telemetry(self.prom, {r: [x.name for x in f.pods] for r, f in found.items()}, standby, ready, rate,
                                       same_model=len(versions) == 1)  # fmt: skip

    def _knee(self, standby: list[str]) -> capacity.StandbyKnee | None:
        """The first standby's knee from the history, when a capacity drill measured one."""
        if self.history is None or not self.history.exists() or not standby:
            return None
        try:
            found = History(self.history).latest_knee(self.plan.environment.name, standby[0])
        except SpecError:
            return None  # a damaged store: the pre-check measures the standby anyway
        if found is None:
            return None
        return capacity.StandbyKnee(found.knee_rps, time.time() - found.at, found.nodes, found.limited_by)

    def _wait_scraped(self, deadline: float) -> None:
        """The embedded Prometheus needs a few seconds to its first scrape of the load generator."""
        if self.prom is None or self.plan.environment.prometheus.url or not (self.plan.spec.slos or self.plan.spec.abort):
            return  # an external Prometheus scrapes on its own schedule; nothing here to wait for
        waited = wait_for_loadgen(self.prom, deadline)
        _event(self.timeline, "prometheus_scraping", ready=waited is not None, waited_s=waited)

    def _stop_scaling(self) -> None:
        for watcher in self.watchers:
            if isinstance(watcher, Autoscaler):
                watcher.stop()

    def _rollback(self) -> list[dict[str, Any]]:
        _event(self.timeline, "rollback_started")
        try:
            undone = undo_pending(self.platform)
        except NotUpError as exc:
            undone = [{"fault": "-", "undo": "-", "args": {}, "error": str(exc)}]
        _event(self.timeline, "rollback_ended", undone=undone)
        self._count("rollback_ended")
        return undone

    def _cooldown(self) -> None:
        _event(self.timeline, "cooldown_started")
        time.sleep(self.plan.spec.load.cooldown_s)

    def _await_alerts(self) -> None:
        """Wait (the load still running) until every alert the drill demands fired, notified and
        resolved, or its budget ran out: a page that comes after the drill ended is still timed."""
        if self.alerts is None or not self.plan.spec.alerts:
            return
        cap = time.time() + MAX_ALERT_WAIT_S
        while True:
            events = read_events(self.timeline)
            window = fault_window(events)
            section = alerting_section(events, fault_start=window.start, receiver=self.alerts.notifications is not None)
            until = unsettled_until(self.plan.spec.alerts, section, fault_start=window.start)
            if until is None or time.time() >= min(until, cap):
                return
            time.sleep(self.alerts.interval_s)

    def _stop_load(self, load_undo: UndoEntry | None) -> float:
        stopped = time.time()
        self.load.stop()
        if load_undo is not None:
            self.platform.undo_log().done(load_undo.id)
        for w in self.watchers:
            w.stop()
        if self.receiver is not None:
            self.receiver.stop()
        self._count("load_stopped")
        _event(self.timeline, "drill_ended", load_stopped_at=stopped)
        return stopped

    def _count(self, phase: str) -> None:
        """The gateway's counters now, into the timeline (nothing when they cannot be read)."""
        counters = self.platform.gateway_counters()
        if counters is not None:
            _event(self.timeline, "gateway_counters", phase=phase, requests=counters.requests,
                   retries=counters.retries, redispatches=counters.redispatches)  # fmt: skip

    def _evidence(self, start: float, end: float) -> dict[str, Any] | None:
        """Range data from Prometheus, collected once; later steps only read what is stored."""
        if self.prom is None:
            return None
        window = max(2 * self.plan.environment.prometheus.scrape_interval_s, self.plan.spec.slo.window_s)
        return collect(self.prom, self.plan.spec, start=start, end=end, series_window_s=window,
                       regions=[r.name for r in self.plan.environment.regions])

    def _trip(self) -> Abort | None:
        return self.guards.tripped if self.guards is not None else None


def _ensure_up(platform: Platform, plan: DrillPlan) -> bool:
    if platform.status().up:
        return False
    if not plan.spec.bring_up:
        raise NotUpError(f"environment {platform.name!r} is not up and the drill says bring_up: false; run `drillkit up`")
    platform.up()
    return True


@contextmanager
def drill_lock(platform: Platform) -> Iterator[None]:
    """One drill at a time on an environment (and no golden recording beside one)."""
    path = platform.root / "drill.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DrillBusyError(f"another drill is running on environment {platform.name!r} ({path}); one at a time") from None
        yield


def _event(timeline: Path, event: str, **fields: Any) -> None:
    fire(timeline, event, **fields)
