"""Typed specs of the YAML files drillkit reads, and the one loader for them.

Everything is validated when it is loaded, before anything is started, and every error
names the file, the field and the fix:

>>> spec = load_environment("drills/environments/local.yaml")   # doctest: +SKIP
>>> spec.primary.name, [r.nodes for r in spec.regions]           # doctest: +SKIP
('primary', [2, 2])
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from drillkit.errors import SpecError

_NAME = r"^[a-z][a-z0-9]{0,30}$"  # no '-': node names are "<region>-<index>"


class _Spec(BaseModel):
    """Base of every spec: unknown fields are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewayMode(StrEnum):
    ACTIVE_PASSIVE = "active-passive"  # standby servers are HAProxy `backup`s
    ACTIVE_ACTIVE = "active-active"  # every region takes traffic


class RegionRole(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"


RetryOn = Literal[
    "conn-failure", "empty-response", "junk-response", "response-timeout", "500", "502", "503", "504"
]


class RegionSpec(_Spec):
    name: Annotated[str, Field(pattern=_NAME, description="lowercase letters and digits, e.g. primary")]
    role: RegionRole = Field(description="primary or standby")
    nodes: int = Field(2, ge=1, le=16, description="inference nodes in the region, 1..16")

    def node_names(self) -> list[str]:
        """Names of the region's nodes: ``primary-0``, ``primary-1``, ..."""
        return [f"{self.name}-{i}" for i in range(self.nodes)]


class GatewaySpec(_Spec):
    mode: GatewayMode = Field(GatewayMode.ACTIVE_PASSIVE, description="active-passive or active-active")
    port: int | None = Field(None, ge=1, le=65535, description="gateway port; empty or taken -> a free one")
    check_interval_ms: int = Field(500, ge=50, le=60_000, description="health-check interval in ms")
    fall: int = Field(2, ge=1, le=10, description="failed checks before a server is marked down")
    rise: int = Field(2, ge=1, le=10, description="passed checks before a server is marked up")
    retries: int = Field(6, ge=0, le=20, description="retries of a failed request (with redispatch)")
    retry_on: tuple[RetryOn, ...] = Field(
        ("conn-failure", "empty-response", "response-timeout", "503"),
        description="HAProxy retry-on events; inference requests are replay-safe",
    )
    error_limit: int = Field(3, ge=0, le=1000, description="consecutive 5xx before a server is marked down (0: off)")
    connect_timeout_ms: int = Field(500, ge=10, description="HAProxy timeout connect in ms")
    server_timeout_ms: int = Field(2_000, ge=10, description="HAProxy timeout server in ms")


class ModelSpec(_Spec):
    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="e.g. v1")] = "v1"
    items: int = Field(50_000, ge=100, le=20_000_000, description="catalog items, 100..20,000,000")
    dim: int = Field(64, ge=8, le=1024, description="embedding dimensions, 8..1024")
    users: int = Field(10_000, ge=10, le=100_000_000, description="users, >= 10")
    seed: int = Field(7, ge=0, description="seed of the synthetic catalog and weights")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto, cpu or cuda")
    max_batch_size: int = Field(64, ge=1, le=4096, description="Triton dynamic batching limit")
    max_queue_delay_us: int = Field(500, ge=0, le=1_000_000, description="dynamic batcher queue delay")


class PrometheusSpec(_Spec):
    scrape_interval_s: float = Field(1.0, gt=0, le=60, description="scrape interval in seconds")
    url: str | None = Field(None, description="an external Prometheus URL instead of the embedded one")
    retention: str = Field("2d", pattern=r"^\d+[smhdwy]$", description="TSDB retention, e.g. 2d")


class EnvironmentSpec(_Spec):
    """An environment: where the two regions run and how the gateway joins them."""

    name: Annotated[str, Field(pattern=_NAME, description="lowercase letters and digits, e.g. local")]
    platform: Literal["local"] = Field("local", description="local (kubernetes comes later)")
    state_dir: Path = Field(Path(".drillkit"), description="folder for state, logs and model repositories")
    regions: tuple[RegionSpec, ...] = Field(description="exactly one primary region and one or more standbys")
    gateway: GatewaySpec = GatewaySpec()
    model: ModelSpec = ModelSpec()
    prometheus: PrometheusSpec = PrometheusSpec()

    @field_validator("regions")
    @classmethod
    def _unique_names(cls, regions: tuple[RegionSpec, ...]) -> tuple[RegionSpec, ...]:
        names = [r.name for r in regions]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique, got {names}")
        return regions

    @model_validator(mode="after")
    def _one_primary(self) -> EnvironmentSpec:
        roles = [r.role for r in self.regions]
        if roles.count(RegionRole.PRIMARY) != 1 or len(roles) < 2:
            raise ValueError("need exactly one region with role: primary and at least one with role: standby")
        return self

    @property
    def primary(self) -> RegionSpec:
        return next(r for r in self.regions if r.role is RegionRole.PRIMARY)

    @property
    def standbys(self) -> list[RegionSpec]:
        return [r for r in self.regions if r.role is RegionRole.STANDBY]


class LoadSpec(_Spec):
    trace: Path = Field(description="trace to replay (CSV or Parquet), relative to the drill file")
    speed: float = Field(1.0, gt=0, le=100, description="replay speed factor")
    processes: int = Field(1, ge=1, le=64, description="Locust processes")
    warmup_s: float = Field(5.0, ge=0, le=3600, description="seconds of load before the fault")
    cooldown_s: float = Field(5.0, ge=0, le=3600, description="seconds of load after the rollback")


class SloSpec(_Spec):
    p99_ms: float = Field(250.0, gt=0, description="p99 latency objective per window, ms")
    error_budget: float = Field(0.01, ge=0, lt=1, description="allowed failed share per window, e.g. 0.01")
    window_s: float = Field(1.0, gt=0, le=60, description="window length, seconds")


class RecoverySpec(_Spec):
    rto_budget_s: float = Field(gt=0, description="the most recovery time that passes, seconds")
    stable_for_s: float = Field(3.0, gt=0, description="good windows needed to count as recovered, seconds")


class FailOn(_Spec):
    max_failed_requests: int | None = Field(None, ge=0, description="fail above this many failed requests")
    wrong_answers: bool = Field(True, description="fail when a golden probe gets a wrong answer")
    capacity: bool = Field(True, description="refuse to inject when the standby cannot take the load")


class DrillSpec(_Spec):
    """A drill: which environment, which experiment, what load, and what passes."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="e.g. region-outage")]
    environment: Path = Field(description="environment YAML, relative to the drill file")
    experiment: Path = Field(description="Chaos Toolkit experiment (JSON), relative to the drill file")
    load: LoadSpec
    slo: SloSpec = SloSpec()
    recovery: RecoverySpec
    fail_on: FailOn = FailOn()
    bring_up: bool = Field(True, description="start the environment when it is not up (and stop it after)")


def load_drill(path: str | Path) -> DrillSpec:
    """Load a drill; its relative paths are resolved against the drill file's folder."""
    drill = load_spec(path, DrillSpec)
    base = Path(path).parent
    return drill.model_copy(update={
        "environment": base / drill.environment,
        "experiment": base / drill.experiment,
        "load": drill.load.model_copy(update={"trace": base / drill.load.trace}),
    })  # fmt: skip


S = TypeVar("S", bound=BaseModel)


def load_environment(path: str | Path) -> EnvironmentSpec:
    """Load and validate an environment YAML file (relative ``state_dir`` is kept relative to CWD)."""
    return load_spec(path, EnvironmentSpec)


def load_spec(path: str | Path, model: type[S]) -> S:
    """The one loader: read YAML, validate with ``model``, turn every failure into SpecError."""
    data = _read_yaml(Path(path))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(str(path), model, exc) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError(str(path), "-", "file not found", "pass an existing file, e.g. drills/environments/local.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise SpecError(str(path), where, f"not valid YAML ({getattr(exc, 'problem', exc)})", "fix the syntax there") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), "-", "the top level must be a mapping of fields", "see drills/environments/local.yaml")
    return data


def _spec_error(file: str, model: type[BaseModel], exc: ValidationError) -> SpecError:
    errors = exc.errors()
    first = errors[0]
    field = _field_path(first["loc"])
    problem = first["msg"]
    if len(errors) > 1:
        others = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in errors[1:4])
        problem += f" (and {len(errors) - 1} more: {others})"
    return SpecError(file, field, problem, _fix_for(model, first))


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "-"


def _fix_for(model: type[BaseModel], error: Any) -> str:
    info = _field_info(model, error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(info) if isinstance(info, dict) else "see the docs"
        return f"remove it or correct the spelling; allowed here: {allowed}"
    if kind == "missing":
        return f"add the field ({getattr(info, 'description', None) or 'required'})"
    desc = getattr(info, "description", None)
    return f"set a valid value ({desc})" if desc else "correct the value"


def _field_info(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """Walk ``loc`` through nested models; return the FieldInfo (or the fields dict for extras)."""
    current: Any = model
    info: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return fields if fields is not None else info
        info = fields[part]
        current = _inner_model(info.annotation)
    return info


def _inner_model(annotation: Any) -> Any:
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def state_root(spec: EnvironmentSpec) -> Path:
    """The environment's own state folder: ``<state_dir>/<name>``."""
    return spec.state_dir / spec.name

