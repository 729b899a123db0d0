"""The one YAML loader: read, validate with a pydantic model, and turn every failure into a
SpecError that names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from drillkit.errors import SpecError


class Spec(BaseModel):
    """Base of every spec: unknown fields are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


S = TypeVar("S", bound=BaseModel)

def load_spec(path: str | Path, model: type[S]) -> S:
    """The one loader: read YAML, validate with ``model``, turn every failure into SpecError."""
    return parse_spec(read_spec_text(path), str(path), model)


def read_spec_text(path: str | Path) -> str:
    """A spec file's text, for a caller that keeps exactly what it validated (a drill's snapshot)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), "-", "file not found", "pass an existing file, e.g. drills/environments/local.yaml")
    return path.read_text()


def parse_spec(text: str, file: str, model: type[S]) -> S:
    """Validate the YAML ``text`` of ``file`` with ``model``; errors name ``file``."""
    data = _parse_yaml(text, file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(file, model, exc) from None


def _parse_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise SpecError(file, where, f"not valid YAML ({getattr(exc, 'problem', exc)})", "fix the syntax there") from None
    if not isinstance(data, dict):
        raise SpecError(file, "-", "the top level must be a mapping of fields", "see drills/environments/local.yaml")
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


