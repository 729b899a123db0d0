"""The run journal (``journal.json``): the single source of truth of a drill, typed and versioned.

:class:`Journal` is its schema (``drillkit journal schema`` prints it as JSON Schema).
:func:`write_journal` is the one writer and :func:`read_journal` the one reader: the
report, the gate, the history, suites and every ``--json`` go through it. A journal written
before the schema had a version (schema 1: infinity as ``null`` plus a ``<key>_never`` flag,
fault outputs keyed ``crashed``/``hung``/``nodes``) loads through :func:`migrate`. A
damaged journal is a :class:`~drillkit.errors.SpecError` naming the file, the field and
the fix (exit 2), never a traceback.

>>> journal = read_journal(Path("reports/region-outage-20260101-030000/journal.json"))   # doctest: +SKIP
>>> journal.measurements.rto_s, journal.verdict                                          # doctest: +SKIP
(0.0, <Verdict.PASS: 'PASS'>)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drillkit.alerting.section import AlertingSection
from drillkit.backup.section import DATA_FAULTS, RestoreSection
from drillkit.crosscheck import CrossCheck
from drillkit.errors import SpecError
from drillkit.events import Event, FaultOutput, fault_outputs, invalid
from drillkit.knee import CapacitySection
from drillkit.measure import Measurements
from drillkit.observe.guards import Abort
from drillkit.observe.slo import SloResult
from drillkit.retries import GatewayRetries
from drillkit.rollout.section import RolloutSection
from drillkit.scaling import ScalingSection
from drillkit.units import Record
from drillkit.verdict import Check, Verdict, run_verdict

SCHEMA_VERSION = 2
JOURNAL_NAME = "journal.json"
_FIX = "re-run the drill, or restore the run folder from a copy"


class _Snapshot(BaseModel):
    """Part of a validated input, kept as it was: the fields readers use are typed, the rest kept."""

    model_config = ConfigDict(frozen=True, extra="allow")


class SloSnapshot(_Snapshot):
    p99_ms: float
    error_budget: float
    window_s: float


class RecoverySnapshot(_Snapshot):
    rto_budget_s: float
    stable_for_s: float = 3.0
    rpo_budget_s: float | None = None
    restore_budget_s: float | None = None


class DrillSnapshot(_Snapshot):
    """The drill spec as validated when the drill ran."""

    name: str
    slo: SloSnapshot
    recovery: RecoverySnapshot


class RegionSnapshot(_Snapshot):
    name: str
    role: Literal["primary", "standby"]
    nodes: int


class EnvironmentSnapshot(_Snapshot):
    """The environment spec as validated when the drill ran."""

    name: str
    regions: list[RegionSnapshot] = Field(min_length=1)

    @property
    def primary(self) -> str:
        return next((r.name for r in self.regions if r.role == "primary"), self.regions[0].name)


class Release(Record):
    release: str | None = None
    commit: str | None = None


class PrometheusRange(Record):
    """Where and over what the Prometheus range data was read."""

    url: str
    start: float
    end: float
    step_s: float
    series_window_s: float


class SeriesPoints(Record):
    labels: dict[str, str] = Field(default_factory=dict)
    points: list[tuple[float, float]]


class Series(Record):
    """One stored range query for the report (``error`` when the query failed)."""

    query: str
    unit: str | None = None
    step_s: float | None = None
    series: list[SeriesPoints] = Field(default_factory=list)
    error: str | None = None


class UndoRecord(Record):
    fault: str
    undo: str
    args: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    note: str | None = None


class Journal(Record):
    """Everything a drill did and measured; reports and gates are pure functions of it."""

    schema_version: Literal[2] = SCHEMA_VERSION
    drill: DrillSnapshot
    environment: EnvironmentSnapshot
    versions: dict[str, str] = Field(default_factory=dict, description="versions of drillkit and its engines")
    release: Release | None = None
    generated_at: float
    interrupted: bool
    fault_start: float | None = Field(description="end of the first injection: the origin of TTD and RTO")
    injecting_since: float | None = Field(None, description="start of that injecting activity: the incident's start")
    rollback_end: float | None
    faulted: list[str] = Field(default_factory=list, description="every node a fault hit")
    capacity: dict[str, Any] | None = Field(None, description="the capacity pre-check and the numbers behind it")
    gateway: GatewayRetries | None = Field(None, description="the gateway's retries and redispatches, warm-up and fault")
    measurements: Measurements | None
    checks: list[Check]
    exit_code: int
    slos: list[SloResult] = Field(default_factory=list)
    cross_check: CrossCheck | None = None
    abort: Abort | None = None
    restore: RestoreSection | None = None
    rollout: RolloutSection | None = Field(None, description="a release rolled out in the drill, and the answers users got from it")
    scaling: ScalingSection | None = Field(None, description="the autoscaler's scale-outs while the drill ran")
    capacity_curve: CapacitySection | None = Field(None, description="each ramped region's steps (offered, achieved, p50/p99, errors) and knee")
    alerting: AlertingSection | None = Field(None, description="every alert the drill saw fire, be notified and resolve, timed from the fault")
    prometheus: PrometheusRange | None = None
    series: dict[str, Series] | None = None
    undone: list[UndoRecord] = Field(default_factory=list)
    timeline: list[Event] = Field(default_factory=list)
    chaos_journal: dict[str, Any] = Field(default_factory=dict, description="Chaos Toolkit's own journal, as it wrote it")

    @model_validator(mode="after")
    def _whole_fault_outputs(self) -> Journal:
        try:
            fault_outputs(self.timeline)
        except SpecError as exc:
            raise ValueError(f"{exc.file}: {exc.field}: {exc.problem}") from None
        return self

    @property
    def name(self) -> str:
        return self.drill.name

    @property
    def verdict(self) -> Verdict:
        return run_verdict(self.checks, self.exit_code)

    @property
    def faults(self) -> list[FaultOutput]:
        return [f for _, f in fault_outputs(self.timeline)]

    @property
    def is_restore_drill(self) -> bool:
        """A drill with a data fault or a restore budget: the restore rules apply to it."""
        budgets = (self.drill.recovery.rpo_budget_s, self.drill.recovery.restore_budget_s)
        return self.restore is not None or any(b is not None for b in budgets) or any(f.fault in DATA_FAULTS for f in self.faults)


def journal_schema() -> dict[str, Any]:
    """The journal's JSON Schema (what ``drillkit journal schema`` prints)."""
    return Journal.model_json_schema(mode="serialization")


def write_journal(run_dir: Path, journal: Journal) -> Path:
    """Write ``journal.json`` atomically (a crash leaves the old file or the new, never half)."""
    path = run_dir / JOURNAL_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(journal.model_dump_json(indent=1))
    os.replace(tmp, path)
    return path


def read_journal(path: Path) -> Journal:
    """Read and validate a journal, migrating an older schema; SpecError names what is wrong."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(str(path.parent), JOURNAL_NAME, "no journal in this folder",
                        "pass a run folder written by `drillkit run` (reports/<drill>-<time>/)") from None  # fmt: skip
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), "-", f"cannot read the journal ({exc})", _FIX) from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), f"line {exc.lineno}", f"not valid JSON ({exc.msg})", _FIX) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, an integer past Python's digit limit
        raise SpecError(str(path), "-", f"cannot read the journal ({str(exc)[:120]})", _FIX) from None
    return parse_journal(data, where=str(path))


def parse_journal(data: Any, *, where: str) -> Journal:
    """A journal from its parsed JSON (any schema version this drillkit knows)."""
    if not isinstance(data, dict) or "drill" not in data:
        raise SpecError(where, "drill", "not a drill journal", "pass a run folder written by `drillkit run`")
    version = data.get("schema_version", 1)
    if version not in (1, SCHEMA_VERSION):
        raise SpecError(where, "schema_version", f"schema {version!r} is not one this drillkit reads (1, {SCHEMA_VERSION})",
                        "read it with the drillkit that wrote it, or upgrade drillkit")  # fmt: skip
    try:
        return Journal.model_validate(migrate(data) if version == 1 else data)
    except ValidationError as exc:
        raise invalid(where, exc, _FIX) from None
    except SpecError as exc:  # a damaged fault output inside the timeline
        raise SpecError(where, exc.field, f"{exc.problem} ({exc.file})", exc.fix) from None


def migrate(old: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (no ``schema_version``) -> 2: ``null`` + ``<key>_never`` -> "never"; fault
    outputs' ``crashed``/``hung``/``nodes`` -> a FaultOutput; the fault window from the timeline."""
    data = {k: v for k, v in old.items() if k not in ("rto_prom_never",)}
    data["schema_version"] = SCHEMA_VERSION
    if isinstance(data.get("measurements"), dict):
        data["measurements"] = _never(data["measurements"])
    if isinstance(data.get("cross_check"), dict):
        cc = dict(data["cross_check"])
        if cc.pop("rto_prom_never", False):
            cc["rto_prom_s"] = "never"
        if cc.get("rto_log_s") is None:
            cc["rto_log_s"] = "never"
        data["cross_check"] = cc
    if isinstance(data.get("timeline"), list):
        data["timeline"] = [_event_v1(e) for e in data["timeline"]]
        data["faulted"] = sorted({n for e in data["timeline"] for n in _targets(e)})
    for section in ("slos", "checks"):
        if isinstance(data.get(section), list):
            data[section] = [_v1_record(x, section) for x in data[section]]
    if isinstance(data.get("restore"), dict):
        data["restore"] = {"restored": data["restore"].get("backup_id") is not None, **data["restore"]}
    if isinstance(data.get("abort"), dict) and not data["abort"]:
        data["abort"] = None
    return data


def _never(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items() if not k.endswith("_never")}
    for key, value in values.items():
        if key.endswith("_never") and value:
            out[key.removesuffix("_never")] = "never"
    return out


_V1_TARGET_KEYS = ("crashed", "hung", "nodes")


def _event_v1(event: Any) -> Any:
    """Schema 1 fault outputs named their nodes under one of three keys, and had no ``fault``/``layer``."""
    if not isinstance(event, dict) or event.get("event") != "activity_ended":
        return _drop_v1_extras(event)
    output = event.get("output")
    if not isinstance(output, dict) or "injected_at" not in output or "targets" in output:
        return event
    targets = [n for key in _V1_TARGET_KEYS for n in output.get(key) or []]
    detail = {k: v for k, v in output.items() if k not in (*_V1_TARGET_KEYS, "injected_at", "layer", "region")}
    new = {"fault": event.get("func") or "unknown", "targets": targets, "injected_at": output["injected_at"],
           "layer": output.get("layer", "node"), "region": output.get("region"), "detail": detail}  # fmt: skip
    return {**event, "output": new}


def _targets(event: Any) -> list[str]:
    output = event.get("output") if isinstance(event, dict) else None
    return list(output.get("targets") or []) if isinstance(output, dict) else []


def _drop_v1_extras(event: Any) -> Any:
    if isinstance(event, dict) and event.get("event") == "drill_ended":
        return {k: v for k, v in event.items() if k != "interrupted"}
    return event


def _v1_record(record: Any, section: str) -> Any:
    """Schema 1 SLO results carried ``evaluated_at`` and no unit or evaluation; checks had no flag."""
    if not isinstance(record, dict):
        return record
    if section == "checks":
        return {"allowed_no_data": False, **record}
    out = {k: v for k, v in record.items() if k != "evaluated_at"}
    defaults = {"unit": "", "evaluate": "worst", "at": record.get("evaluated_at"),
                "detail": f"{record.get('value')} (objective {record.get('comparison')} {record.get('threshold')})"}  # fmt: skip
    return defaults | out
