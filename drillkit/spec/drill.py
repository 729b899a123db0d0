"""The drill spec: which environment, which experiment, what load, and what passes."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from drillkit.spec.loader import Spec, load_spec
from drillkit.spec.safe import MAX_MS, MAX_SECONDS, SafePath, SafeText
from drillkit.spec.slo import AbortGuard, SloCheck

_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class LoadSpec(Spec):
    trace: SafePath = Field(description="trace to replay (CSV or Parquet), relative to the drill file")
    speed: float = Field(1.0, gt=0, le=100, description="replay speed factor")
    processes: int = Field(1, ge=1, le=64, description="Locust processes")
    warmup_s: float = Field(5.0, ge=0, le=3600, description="seconds of load before the fault")
    cooldown_s: float = Field(5.0, ge=0, le=3600, description="seconds of load after the rollback")


class JudgeLatency(StrEnum):
    """Over which span the p99 objective is judged (the ``latency`` check, Prometheus latency SLOs).

    >>> JudgeLatency("after_recovery") is JudgeLatency.AFTER_RECOVERY
    True
    """

    THROUGH_FAULT = "through_fault"
    AFTER_RECOVERY = "after_recovery"


class SloSpec(Spec):
    p99_ms: float = Field(250.0, gt=0, le=MAX_MS, description="p99 latency objective per window, ms")
    error_budget: float = Field(0.01, ge=0, lt=1, description="allowed failed share per window, e.g. 0.01")
    window_s: float = Field(1.0, gt=0, le=60, description="window length, seconds")
    judge_latency: JudgeLatency = Field(
        JudgeLatency.THROUGH_FAULT,
        description="through_fault: the p99 objective holds in every window of the drill, the fault's included; "
        "after_recovery: windows before recovery count only toward RTO, and the objective must hold from recovery on",
    )


class RecoverySpec(Spec):
    rto_budget_s: float = Field(gt=0, le=MAX_SECONDS, description="the most recovery time that passes, seconds")
    stable_for_s: float = Field(3.0, gt=0, le=MAX_SECONDS, description="good windows needed to count as recovered, seconds")
    rpo_budget_s: float | None = Field(None, gt=0, le=MAX_SECONDS, description="restore drills: the most data loss (RPO) that passes, seconds")
    restore_budget_s: float | None = Field(None, gt=0, le=MAX_SECONDS, description="restore drills: the most restore time that passes, seconds")


class FailOn(Spec):
    max_failed_requests: int | None = Field(None, ge=0, le=2**53, description="fail above this many failed requests")
    wrong_answers: bool = Field(True, description="fail when a golden probe gets a wrong answer")
    capacity: bool = Field(True, description="refuse to inject when the standby cannot take the load")
    # A failover onto an older model is an incident of its own: a drill does not start from one.
    version_skew: bool = Field(True, description="refuse to start when the nodes serve different model versions, or not the environment's")


class ScalingExpectation(Spec):
    """What a surge drill's autoscaler must show (the environment's ``autoscale:``)."""

    expect_scale_out: bool = Field(True, description="the drill fails when the autoscaler did not scale out")
    max_time_to_scale_s: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                              description="from the autoscaler's request to new nodes serving, seconds")


class CapacityExpectation(Spec):
    """A capacity drill (``measure_capacity`` actions): no fault, so no recovery to judge; knees to find."""

    min_knee_rps: dict[SafeText, Annotated[float, Field(gt=0, le=1_000_000)]] = Field(
        {}, description="a region's knee must be at least this many requests per second")


class RolloutExpectation(Spec):
    """What a release drill (the ``rollout_version`` action) must show."""

    expect: Literal["completed", "rolled_back"] = Field(
        description="rolled_back: a bad release must be detected and every node put back; completed: a good one rolls out")
    max_wrong_answers: int | None = Field(None, ge=0, le=2**53, description="wrong answers users may get from the release, at most")
    max_time_to_rollback_s: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                                 description="from the rollout's start to every node back and verified, seconds")


class AlertExpectation(Spec):
    """An alert a drill demands: fired (and notified) within so long of the fault, resolved within
    so long of the rollback; or never fired at all (``must_not_fire``)."""

    alert: str = Field(pattern=r"^[A-Za-z_:][A-Za-z0-9_:]{0,127}$", description="the alert's name (alertname), e.g. RecommenderRegionDown")
    labels: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")], Annotated[str, Field(max_length=1024)]] = Field(
        {}, max_length=32, description="only the alert's instances with these labels, e.g. {region: us-east-1}")
    must_fire_within_s: float | None = Field(None, gt=0, le=MAX_SECONDS, description="firing in Prometheus within so long of the fault's start, seconds")
    must_notify_within_s: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                               description="its notification received within so long of the fault's start, seconds")
    must_resolve_within_s: float | None = Field(None, gt=0, le=MAX_SECONDS,
                                                description="its resolved notification within so long of the rollback's end, seconds")
    must_not_fire: bool = Field(False, description="the drill fails if the alert fires at any time while it runs, warm-up included")

    @model_validator(mode="after")
    def _one_demand(self) -> AlertExpectation:
        timed = (self.must_fire_within_s, self.must_notify_within_s, self.must_resolve_within_s)
        if self.must_not_fire and any(t is not None for t in timed):
            raise ValueError(f"{self.alert}: must_not_fire cannot go with must_fire/notify/resolve_within_s")
        if not self.must_not_fire and all(t is None for t in timed):
            raise ValueError(f"{self.alert}: demand something: must_fire_within_s, must_notify_within_s, must_resolve_within_s or must_not_fire")
        return self

    @property
    def key(self) -> str:
        """How its check is named: ``alert:RecommenderRegionDown{region=us-east-1}``."""
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"alert:{self.alert}" + (f"{{{labels}}}" if labels else "")


class DrillSpec(Spec):
    """A drill: which environment, which experiment, what load, and what passes."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="e.g. region-outage")]
    environment: SafePath = Field(description="environment YAML, relative to the drill file")
    experiment: SafePath = Field(description="Chaos Toolkit experiment (JSON or YAML), relative to the drill file")
    load: LoadSpec
    slo: SloSpec = SloSpec()
    recovery: RecoverySpec
    fail_on: FailOn = FailOn()
    rollout: RolloutExpectation | None = Field(None, description="a release drill: how the rollout must end")
    scaling: ScalingExpectation | None = Field(None, description="a surge drill: the scale-out it must see")
    capacity: CapacityExpectation | None = Field(None, description="a capacity drill: the knees it must find")
    alerts: tuple[AlertExpectation, ...] = Field((), max_length=64,
                                                 description="alerts that must fire, notify and resolve in time, or never fire (needs alerting:)")
    slos: tuple[SloCheck, ...] = Field((), description="SLOs checked in Prometheus with PromQL (see drillkit/spec/slo.py)")
    abort: tuple[AbortGuard, ...] = Field((), description="guards that stop the fault and roll back at once")
    cross_check: bool = Field(True, description="compute TTD and RTO again from Prometheus and compare")
    bring_up: bool = Field(True, description="start the environment when it is not up (and stop it after)")
    # Opt-ins for experiment code beyond drillkit's own and Chaos Toolkit's extensions: `validate`
    # imports and binds every python activity's module, and a drill runs it as root.
    allow_modules: tuple[Annotated[str, Field(pattern=_MODULE)], ...] = Field(
        (), description="python modules (and their submodules) the experiment may call beyond drillkit.chaos and chaosprometheus"
    )
    allow_processes: tuple[SafeText, ...] = Field(
        (), description="exact `path`s of process providers the experiment may run (none by default)"
    )

    @field_validator("alerts")
    @classmethod
    def _unique_alerts(cls, alerts: tuple[AlertExpectation, ...]) -> tuple[AlertExpectation, ...]:
        keys = [a.key for a in alerts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"each alert (with its labels) once, got {keys}")
        return alerts

    @field_validator("slos", "abort")
    @classmethod
    def _unique_names(cls, items: tuple[SloCheck | AbortGuard, ...]) -> tuple[SloCheck | AbortGuard, ...]:
        names = [i.name for i in items]
        if len(set(names)) != len(names):
            raise ValueError(f"names must be unique, got {names}")
        return items


def load_drill(path: str | Path) -> DrillSpec:
    """Load a drill; its relative paths are resolved against the drill file's folder."""
    drill = load_spec(path, DrillSpec)
    base = Path(path).parent
    return drill.model_copy(update={
        "environment": base / drill.environment,
        "experiment": base / drill.experiment,
        "load": drill.load.model_copy(update={"trace": base / drill.load.trace}),
    })  # fmt: skip


