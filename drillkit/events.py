"""The timeline's events: one typed catalog, one writer, one reader.

A drill's ``timeline.jsonl`` is appended line by line while it runs (each line fsynced, see
:mod:`drillkit.timeline`), by the runner, the Chaos Toolkit control, the watchers and the
guards. Every line is one of the models below, keyed on ``event``; the journal keeps them
all, in time order. Every fault action returns a :class:`FaultOutput` (its Chaos Toolkit
output), and :func:`fault_window` is the one place that reads the fault window and the
faulted nodes from the timeline.

>>> emit(Path("run/timeline.jsonl"), GatewayState(node="primary-0", state="DOWN"))   # doctest: +SKIP
>>> fault_window(read_events(Path("run/timeline.jsonl"))).nodes                     # doctest: +SKIP
['primary-0']
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from drillkit.errors import SpecError
from drillkit.timeline import append_line
from drillkit.units import Record


class FaultOutput(Record):
    """What every fault action returns: which nodes it hit, when, and at which layer.

    ``injected_at`` is when the injection finished (the drill's fault_start, free of the
    pauses Chaos Toolkit adds around activities). ``targets`` may not be empty: a fault that
    hit nothing measured would silently get no TTD.
    """

    fault: str = Field(description="the action, e.g. crash_node")
    targets: list[str] = Field(min_length=1, description="the faulted nodes")
    injected_at: float = Field(description="unix time the injection finished")
    layer: str = Field(description="where it was injected: node, network, repository, or the GPU layer")
    region: str | None = Field(None, description="the region, when the fault names one")
    detail: dict[str, Any] = Field(default_factory=dict, description="the fault's own parameters and results")


class UndoResult(Record):
    """One undo carried out by a rollback (``error`` when it failed; ``note`` when it did more)."""

    fault: str
    undo: str
    args: dict[str, Any]
    error: str | None = None
    note: str | None = None


class _Event(BaseModel):
    # Extra keys are kept, not refused: a capacity report or a guard's trip is spread into its event.
    model_config = ConfigDict(frozen=True, extra="allow")

    at: float = Field(default_factory=time.time, description="unix time")


class DrillStarted(_Event):
    event: Literal["drill_started"] = "drill_started"
    drill: str


class CapacityChecked(_Event):
    """The pre-check's report (every field of :class:`drillkit.capacity.Capacity`), written when it ended."""

    event: Literal["capacity_checked"] = "capacity_checked"
    ok: bool
    reason: str
    burst_elapsed_s: float | None = None  # None: the burst did not run


class PrometheusScraping(_Event):
    event: Literal["prometheus_scraping"] = "prometheus_scraping"
    ready: bool
    waited_s: float | None = None


class ExperimentStarted(_Event):
    event: Literal["experiment_started"] = "experiment_started"
    title: str | None = None


class ExperimentEnded(_Event):
    event: Literal["experiment_ended"] = "experiment_ended"
    status: str | None = None
    deviated: bool | None = None


class ActivityStarted(_Event):
    event: Literal["activity_started"] = "activity_started"
    name: str | None = None
    type: str | None = None
    func: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)


class ActivityEnded(_Event):
    event: Literal["activity_ended"] = "activity_ended"
    name: str | None = None
    type: str | None = None
    func: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: str | None = None
    output: Any = None
    error: str | None = None  # a failed activity's exception (the last line of its traceback)


class GatewayState(_Event):
    event: Literal["gateway_state"] = "gateway_state"
    node: str
    state: str


class GatewayCounted(_Event):
    """The gateway's cumulative backend counters at a phase of the drill (``load_started``, ``warmed_up``
    (just before the experiment), ``rollback_ended``, ``load_stopped``): retries and redispatches are
    the early warning of a node going bad, and their share of requests is what the retry budget bounds."""

    event: Literal["gateway_counters"] = "gateway_counters"
    phase: Literal["load_started", "warmed_up", "rollback_ended", "load_stopped"]
    requests: int = Field(ge=0)
    retries: int = Field(ge=0)
    redispatches: int = Field(ge=0)


class CanaryProbe(_Event):
    """One golden probe through the gateway. ``wrong`` says how an answer broke the golden
    rules; journals written before the rules carry the top-k ``overlap`` instead."""

    event: Literal["canary"] = "canary"
    model: str
    region: str | None = None
    node: str | None = None
    wrong: str | None = None
    overlap: float | None = None
    error: str | None = None

    @property
    def answered_wrongly(self) -> bool:
        return self.wrong is not None or (self.overlap is not None and self.overlap < LEGACY_MIN_OVERLAP)


LEGACY_MIN_OVERLAP = 0.9  # what judged an old journal's canaries: 9 of 10 items in common


class GuardTripped(_Event):
    event: Literal["abort"] = "abort"
    guard: str
    reason: str


class GuardError(_Event):
    event: Literal["guard_error"] = "guard_error"
    guard: str
    error: str


class WatcherError(_Event):
    event: Literal["watcher_error"] = "watcher_error"
    watcher: str
    error: str


class RollbackStarted(_Event):
    """A rollback began: the experiment's own rollbacks (``phase: experiment``), or drillkit's
    undo of every pending fault after the experiment (``phase: drillkit``)."""

    event: Literal["rollback_started"] = "rollback_started"
    phase: Literal["experiment", "drillkit"] = "drillkit"


class RollbackEnded(_Event):
    event: Literal["rollback_ended"] = "rollback_ended"
    undone: list[UndoResult] = Field(default_factory=list)


class CooldownStarted(_Event):
    event: Literal["cooldown_started"] = "cooldown_started"


class VersionsServed(_Event):
    """The version-skew preflight: which model version each node served when the drill began."""

    event: Literal["versions_served"] = "versions_served"
    expected: str
    nodes: dict[str, str]

    @property
    def skewed(self) -> list[str]:
        """Nodes that do not serve the environment's version."""
        return sorted(n for n, v in self.nodes.items() if v != self.expected)


class AnswersAudited(_Event):
    """The release's answers judged after the drill (every field of
    :class:`drillkit.rollout.audit.AnswerAudit`)."""

    event: Literal["answers_audited"] = "answers_audited"
    wrong: int = Field(ge=0)


class Scaled(_Event):
    """The autoscaler scaled a region out (every field of :class:`drillkit.platforms.base.ScaleResult`)."""

    event: Literal["scaled"] = "scaled"
    region: str
    from_nodes: int
    to_nodes: int
    nodes: list[str] = Field(default_factory=list)
    requested_at: float
    ready_at: float
    serving_at: float
    trigger_p99_ms: float | None = None

    @property
    def time_to_scale_s(self) -> float:
        return self.serving_at - self.requested_at


class ScaleRefused(_Event):
    event: Literal["scale_refused"] = "scale_refused"
    region: str
    nodes: int
    reason: str


class Replicas(_Event):
    """A region's node count as the platform's own autoscaler left it (observed, not made)."""

    event: Literal["replicas"] = "replicas"
    region: str
    nodes: int
    ready: int | None = None


class AlertState(_Event):
    """An alert changed state where drillkit reads it: Prometheus (pending, firing, inactive once
    gone) or Alertmanager (active, inactive once gone)."""

    event: Literal["alert_state"] = "alert_state"
    source: Literal["prometheus", "alertmanager"]
    alert: str
    labels: dict[str, str] = Field(default_factory=dict)
    state: Literal["pending", "firing", "active", "inactive"]
    first_poll: bool = False  # seen on the first read: it was so before the drill watched


class AlertSource(_Event):
    """Whether drillkit could read an alerting component (written on every change)."""

    event: Literal["alert_source"] = "alert_source"
    source: Literal["prometheus", "alertmanager", "receiver"]
    reachable: bool
    error: str | None = None


class AlertNotified(_Event):
    """One alert in a notification drillkit's receiver got (``at`` is when it arrived)."""

    event: Literal["alert_notified"] = "alert_notified"
    status: Literal["firing", "resolved"]
    alert: str
    labels: dict[str, str] = Field(default_factory=dict)
    receiver: str = ""


class DrillEnded(_Event):
    event: Literal["drill_ended"] = "drill_ended"
    load_stopped_at: float | None = None


Event = Annotated[
    DrillStarted | CapacityChecked | PrometheusScraping | ExperimentStarted | ExperimentEnded | ActivityStarted
    | ActivityEnded | GatewayState | GatewayCounted | CanaryProbe | GuardTripped | GuardError | WatcherError | RollbackStarted
    | RollbackEnded | CooldownStarted | VersionsServed | AnswersAudited | Scaled | ScaleRefused | Replicas | AlertState | AlertSource | AlertNotified
    | DrillEnded,
    Field(discriminator="event"),
]
EVENT = TypeAdapter(Event)


def emit(timeline: Path, event: _Event) -> None:
    """Append one event to the timeline, durably."""
    append_line(timeline, event.model_dump(mode="json"))


def fire(timeline: Path, event: str, **fields: Any) -> None:
    """Fire the catalog's ``event`` with keyword arguments, stamped now: validated before it is
    written, so an unknown event or a missing field fails where it is fired."""
    emit(timeline, EVENT.validate_python({"event": event, "at": time.time(), **fields}))


def read_events(path: Path) -> list[Event]:
    """Every event of a timeline file, in time order; a damaged line is a SpecError naming it.

    A line torn by a crash mid-write (the last one, not JSON) is skipped, as the writer promises.
    """
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), "-", f"cannot read the timeline ({exc})", "re-run the drill") from None
    events = []
    for number, raw in enumerate(lines, start=1):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # torn by a crash mid-write
            raise SpecError(str(path), f"line {number}", "not JSON", "re-run the drill") from None
        events.append(parse_event(data, where=f"{path}:{number}"))
    return sorted(events, key=lambda e: e.at)


def parse_event(data: Any, *, where: str) -> Event:
    """One event from its JSON form; a damaged one is a SpecError naming ``where`` and the field."""
    try:
        return EVENT.validate_python(data)
    except ValidationError as exc:
        raise invalid(where, exc, "re-run the drill, or restore the file from a copy") from None


def invalid(where: str, exc: ValidationError, fix: str) -> SpecError:
    """A pydantic error as a SpecError: the file, the first bad field, what is wrong, the fix."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "-"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return SpecError(where, field, first["msg"] + more, fix)


class FaultWindow(Record):
    """When the drill's faults were injected and rolled back, and what they hit.

    ``start``: the first injection's ``injected_at`` (fault_start, the origin of TTD and RTO);
    ``injecting_since``: when that injecting activity began (the incident's start);
    ``rollback_end``: the end of the rollback; ``nodes``: every node any fault hit.
    """

    start: float | None
    injecting_since: float | None
    rollback_end: float | None
    nodes: list[str]
    faults: list[FaultOutput]


def fault_outputs(events: list[Event]) -> list[tuple[ActivityEnded, FaultOutput]]:
    """Every fault's output, with its activity; an output that claims a fault time
    (``injected_at``) but is not a whole :class:`FaultOutput` is a SpecError."""
    found = []
    for e in events:
        if isinstance(e, ActivityEnded) and isinstance(e.output, dict) and "injected_at" in e.output:
            try:
                found.append((e, FaultOutput.model_validate(e.output)))
            except ValidationError as exc:
                raise invalid(f"timeline activity {e.name!r} ({e.func})", exc,
                              "a fault action must return a FaultOutput with its targets") from None  # fmt: skip
    return found


def burst_end(events: list[Event]) -> float | None:
    """When the capacity pre-check's burst ended (None: it did not run)."""
    return next((e.at for e in events if isinstance(e, CapacityChecked) and e.burst_elapsed_s is not None), None)


def fault_window(events: list[Event]) -> FaultWindow:
    """The fault window and the faulted nodes: the one reader of fault outputs."""
    faults = fault_outputs(events)
    rollback_end = next((e.at for e in events if isinstance(e, RollbackEnded)), None)
    nodes = sorted({n for _, f in faults for n in f.targets})
    if not faults:
        return FaultWindow(start=None, injecting_since=None, rollback_end=rollback_end, nodes=[], faults=[])
    first, output = faults[0]
    began = next((e.at for e in events if isinstance(e, ActivityStarted) and e.name == first.name), None)
    return FaultWindow(start=output.injected_at, injecting_since=began, rollback_end=rollback_end, nodes=nodes,
                       faults=[f for _, f in faults])  # fmt: skip
