"""The suite spec (``drills/suites/*.yaml``): drills in order, with per-drill overrides.

```yaml
name: nightly
settle_s: 20            # pause between drills so the environment settles
stop_on_failure: false  # stop at the first drill that does not pass
retries: 1              # re-runs of a drill after an environment error (never after a verdict)
drills:
  - drill: ../region-outage.yaml
  - drill: ../node-crash.yaml
    overrides: {recovery: {rto_budget_s: 2}}
```

Overrides are deep-merged into the drill before it is validated; a bad override is a
SpecError naming the suite file and ``drills[i].overrides.<field>``. Paths given in
overrides are relative to the suite file. ``environment_overrides`` are merged into the
drill's environment the same way (``drills[i].environment_overrides.<field>``).

``variants`` compare settings side by side: every drill runs once under each variant (all
drills of the first variant, then of the next), the variant's ``environment`` and
``overrides`` merged after the entry's own, and the drill named ``<drill>-<variant>``:

```yaml
variants:
  - {name: haproxy-defaults, environment: {gateway: {check_interval_ms: 2000, fall: 3}}}
  - {name: shipped, environment: {}}
```

>>> suite = load_suite("drills/suites/nightly.yaml")    # doctest: +SKIP
>>> [d.drill.name for d in suite.drills]                 # doctest: +SKIP
['region-outage.yaml', 'node-crash.yaml']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, ValidationError, field_validator

from drillkit.errors import SpecError
from drillkit.spec.drill import DrillSpec
from drillkit.spec.environment import EnvironmentSpec
from drillkit.spec.loader import Spec, _spec_error, load_spec
from drillkit.spec.safe import SafePath

SpecT = TypeVar("SpecT", DrillSpec, EnvironmentSpec)
_PATHS = (("environment",), ("experiment",), ("load", "trace"))


class SuiteDrill(Spec):
    drill: SafePath = Field(description="drill YAML, relative to the suite file")
    overrides: dict[str, Any] = Field({}, description="fields merged into the drill, e.g. {recovery: {rto_budget_s: 2}}")
    environment_overrides: dict[str, Any] = Field(
        {}, description="fields merged into the drill's environment, e.g. {gateway: {check_interval_ms: 2000}}"
    )
    retries: int | None = Field(None, ge=0, le=10, description="environment-error retries for this drill (default: the suite's)")


class SuiteVariant(Spec):
    """One setting to compare: every drill of the suite runs under it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,20}$", description="e.g. haproxy-defaults")]
    description: str = Field("", description="what the setting is")
    environment: dict[str, Any] = Field({}, description="fields merged into every drill's environment")
    overrides: dict[str, Any] = Field({}, description="fields merged into every drill")


class SuiteSpec(Spec):
    """An ordered list of drills and how to run them."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="e.g. nightly")]
    description: str = Field("", description="what the suite is for")
    drills: tuple[SuiteDrill, ...] = Field(min_length=1, description="the drills, run in this order")
    stop_on_failure: bool = Field(False, description="stop at the first drill that does not pass")
    retries: int = Field(1, ge=0, le=10, description="re-runs of a drill after an environment error (never after a verdict)")
    settle_s: float = Field(10.0, ge=0, le=3600, description="seconds between drills for the environment to settle")
    variants: tuple[SuiteVariant, ...] = Field((), description="settings to compare: every drill runs under each")

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, variants: tuple[SuiteVariant, ...]) -> tuple[SuiteVariant, ...]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        return variants


@dataclass(frozen=True)
class DrillOverrides:
    """Suite overrides of one drill, and where they were written (for error messages)."""

    values: dict[str, Any]
    suite_file: str
    field: str  # e.g. drills[1].overrides

    def apply(self, spec: DrillSpec) -> DrillSpec:
        """The drill with the overrides merged in, validated again."""
        base = Path(self.suite_file).parent
        merged = deep_merge(spec.model_dump(mode="json"), self.values)
        for path in _PATHS:  # an overridden path is relative to the suite file
            if _get(self.values, path) is not None:
                _set(merged, path, str(base / _get(self.values, path)))
        return _validated(DrillSpec, merged, self.suite_file, self.field)


@dataclass(frozen=True)
class EnvironmentOverrides:
    """Suite overrides of a drill's environment, and where they were written (for error messages)."""

    values: dict[str, Any]
    suite_file: str
    field: str  # e.g. drills[1].environment_overrides

    def apply(self, environment: EnvironmentSpec) -> EnvironmentSpec:
        """The environment with the overrides merged in, validated again."""
        merged = deep_merge(environment.model_dump(mode="json"), self.values)
        return _validated(EnvironmentSpec, merged, self.suite_file, self.field)


def _validated(model: type[SpecT], merged: dict[str, Any], suite_file: str, field: str) -> SpecT:
    """``merged`` validated as ``model``; an error names the suite file and the override's field."""
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        error = _spec_error(suite_file, model, exc)
        raise SpecError(suite_file, f"{field}.{error.field}", error.problem, error.fix) from None


def load_suite(path: str | Path) -> SuiteSpec:
    """Load a suite; drill paths are resolved against the suite file's folder."""
    suite = load_spec(path, SuiteSpec)
    base = Path(path).parent
    return suite.model_copy(update={"drills": tuple(d.model_copy(update={"drill": base / d.drill}) for d in suite.drills)})


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``; nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value
