"""Chaos Toolkit experiments as untrusted input: read, check the shape, and allow only known code.

An experiment names Python functions and programs that a drill runs as root, and
``drillkit validate`` imports every module it names (chaoslib binds the arguments to the
real signature). So before chaoslib sees it:

- the file is read like every spec (UTF-8, bounded size, no YAML aliases or duplicate keys,
  no runaway nesting) and must be plain JSON data with finite numbers, since the run writes
  it into its journal as JSON;
- ``method``, ``rollbacks``, activities, providers and ``pauses`` have the types chaoslib
  expects, and pauses are finite seconds (0 .. 7 days);
- every python provider or control names a module of drillkit's Chaos Toolkit extension
  (``drillkit.chaos.*``) or of an installed Chaos Toolkit extension (``chaosprometheus.*``),
  and an activity's function is one that module exports in ``__all__``. Anything else, and
  every ``process`` provider, needs the drill's explicit opt-in (``allow_modules``,
  ``allow_processes``).

>>> experiment = read_experiment(Path("chaos/node-crash.json"))   # doctest: +SKIP
>>> check_code(experiment, "chaos/node-crash.json", Trust())       # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from drillkit.errors import SpecError
from drillkit.spec.loader import _field_path, load_yaml, read_text
from drillkit.spec.safe import Seconds

ALLOWED_MODULES = ("drillkit.chaos", "chaosprometheus")  # and their submodules
_EXAMPLE = "chaos/node-crash.json"
_MAX_DEPTH = 64  # an experiment is a few levels deep; the walk below is bounded by it


class _Shape(BaseModel):
    # Chaos Toolkit has many optional fields (tags, contributions, secrets...): keep them,
    # check only the types that chaoslib and drillkit rely on.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class Pauses(_Shape):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    before: Seconds = 0.0
    after: Seconds = 0.0


class Provider(_Shape):
    type: Literal["python", "process", "http"]
    module: str | None = None
    func: str | None = None
    path: str | None = None
    arguments: Any = {}

    @field_validator("arguments")
    @classmethod
    def _arguments_of_the_type(cls, value: Any, info: ValidationInfo) -> Any:
        # chaoslib copies a python provider's arguments as a mapping (bound by keyword), and
        # passes a process provider's as its command line (a string or a list of strings)
        kind = info.data.get("type")
        if kind == "python" and not isinstance(value, dict):
            raise ValueError("a python provider's arguments are a mapping of argument names to values")
        if kind == "process" and not isinstance(value, str | list):
            raise ValueError("a process provider's arguments are a string or a list of strings")
        return value


# Optional fields default to None when absent, but an explicit `null` is refused: chaoslib
# reads them with `.get(key, default)`, which returns the null and then fails on it.
class Activity(_Shape):
    type: Literal["action", "probe"] = Field(None)  # type: ignore[assignment]
    name: str = Field(None)  # type: ignore[assignment]
    ref: str = Field(None)  # type: ignore[assignment]
    provider: Provider = Field(None)  # type: ignore[assignment]
    pauses: Pauses = Pauses()


class Hypothesis(_Shape):
    title: str = Field(None)  # type: ignore[assignment]
    probes: list[Activity] = []


class Experiment(_Shape):
    title: str = Field(min_length=1)
    configuration: dict[str, Any] = {}
    method: list[Activity] = Field(min_length=1)
    rollbacks: list[Activity] = []
    steady_state_hypothesis: Hypothesis = Field(None, alias="steady-state-hypothesis")  # type: ignore[assignment]
    controls: list[dict[str, Any]] = []


@dataclass(frozen=True)
class Trust:
    """What a drill allows beyond drillkit's and Chaos Toolkit's own modules (its opt-in)."""

    modules: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()


def read_experiment(path: Path) -> dict[str, Any]:
    """The experiment at ``path`` as plain data of the right shape, or SpecError naming the field."""
    text = read_text(path, what="experiment", example=_EXAMPLE)
    data = load_yaml(text, str(path)) if path.suffix in (".yaml", ".yml") else _load_json(text, str(path))
    if not isinstance(data, dict):
        raise SpecError(str(path), "-", "an experiment is a mapping (title, method, ...)", f"see {_EXAMPLE}")
    _check_json_data(data, str(path))
    try:
        Experiment.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SpecError(str(path), _field_path(first["loc"]), first["msg"],
                        "write it as Chaos Toolkit expects (method: a list of activities; pauses: {before: s, after: s})"
                        ) from None  # fmt: skip
    return data


def _load_json(text: str, file: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(file, f"line {exc.lineno}", f"not valid JSON ({exc.msg})", "fix the syntax there") from None
    except RecursionError:
        raise SpecError(file, "-", "nested too deeply to read", "flatten the document") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise SpecError(file, "-", f"a value cannot be read ({exc})", "write numbers of a sane size") from None


def _check_json_data(data: dict[str, Any], file: str) -> None:
    """The journal stores the experiment as JSON: refuse what JSON cannot hold (inf, bytes, dates, sets)."""
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SpecError(file, "-", f"holds a value that is not plain JSON data ({exc})",
                        "use strings, finite numbers, booleans, lists and mappings only") from None  # fmt: skip
    except RecursionError:
        raise SpecError(file, "-", "nested too deeply", "flatten the document") from None


def check_code(experiment: dict[str, Any], file: str, trust: Trust) -> None:
    """Every provider and control runs known code, or code the drill opted in to (SpecError otherwise)."""
    for where, provider in _providers(experiment, "", 0, file):
        kind = provider.get("type", "python")
        if kind == "process":
            _check_process(provider, file, where, trust)
        elif kind == "python":
            _check_module(provider, file, where, trust)


def _providers(node: Any, where: str, depth: int, file: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping found under a ``provider`` key (activities, tolerances, controls), with its path."""
    if depth > _MAX_DEPTH:  # refused, not skipped: an unchecked provider must not hide down there
        raise SpecError(file, where, f"nested deeper than {_MAX_DEPTH} levels", "flatten the experiment")
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        path = f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else str(key))
        if key == "provider" and isinstance(value, dict):
            yield path, value
        yield from _providers(value, path, depth + 1, file)


def _check_process(provider: dict[str, Any], file: str, where: str, trust: Trust) -> None:
    path = provider.get("path")
    if path not in trust.processes:
        raise SpecError(file, where, f"a process provider runs {path!r}, which the drill does not allow",
                        f"add it to the drill's allow_processes: [{path!r}] if you trust it")  # fmt: skip


def _check_module(provider: dict[str, Any], file: str, where: str, trust: Trust) -> None:
    module = provider.get("module")
    if not isinstance(module, str):
        raise SpecError(file, f"{where}.module", "a python provider needs the name of its module",
                        "set module, e.g. drillkit.chaos.actions (see `drillkit faults`)")  # fmt: skip
    if _within(module, trust.modules):
        return
    if not _within(module, ALLOWED_MODULES):
        raise SpecError(file, f"{where}.module", f"module {module!r} is not drillkit's or a Chaos Toolkit extension's",
                        f"use drillkit.chaos.* (see `drillkit faults`), or add {module!r} to the drill's allow_modules")  # fmt: skip
    func = provider.get("func")
    if func is not None and func not in _exported(module):
        raise SpecError(file, f"{where}.func", f"{module} does not export {func!r} in __all__",
                        "use an activity that `drillkit faults` lists")  # fmt: skip


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _exported(module: str) -> tuple[str, ...]:
    """The public activities of an allowed (trusted, installed) module; none when it cannot be imported."""
    try:
        return tuple(getattr(importlib.import_module(module), "__all__", ()))
    except ImportError:
        return ()
