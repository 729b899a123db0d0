"""The one YAML loader: read, validate with a pydantic model, and turn every failure into a
SpecError that names the file, the field and the fix.

Spec files come from other people and systems, so the reader is strict: the text must be
UTF-8 and at most ``MAX_SPEC_BYTES``; duplicate keys are refused (the last one would win
silently); aliases are refused (a recursive or exponential alias expands without bound, and
the data is later written to JSON); nesting too deep and integers too long are errors, not
``RecursionError`` or ``ValueError``; and every float of a spec must be finite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from yaml.constructor import ConstructorError

from drillkit.errors import SpecError


class Spec(BaseModel):
    """Base of every spec: unknown fields are errors (a typo must not be ignored)."""

    # allow_inf_nan=False: `.inf` or `1e999` (which YAML reads as inf) is never a budget.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


S = TypeVar("S", bound=BaseModel)
MAX_SPEC_BYTES = 4 * 1024 * 1024  # far above any spec or experiment; a bound on what is parsed


class _Refused(ConstructorError):
    """A construct the strict loader refuses, with the fix to print."""

    def __init__(self, problem: str, mark: Any, fix: str) -> None:
        super().__init__(None, None, problem, mark)
        self.fix = fix


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases and duplicate mapping keys, each at its line."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(f"YAML alias *{event.anchor} is not allowed", event.start_mark,
                           f"write the value of &{event.anchor} out where *{event.anchor} is used")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicates(loader: StrictLoader, node: yaml.MappingNode) -> None:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: the constructor itself reports it
            continue
        if duplicate:
            raise _Refused(f"duplicate key {key!r} (the last one would win silently)", key_node.start_mark,
                           f"keep one {key!r} in this mapping")
        seen.add(key)


def load_yaml(text: str, file: str) -> Any:
    """Parse untrusted YAML ``text`` with ``StrictLoader``; every failure is a SpecError naming ``file``."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506  (StrictLoader is a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        fix = exc.fix if isinstance(exc, _Refused) else "fix the syntax there"
        raise SpecError(file, where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})", fix) from None
    except RecursionError:
        raise SpecError(file, "-", "nested too deeply to read", "flatten the document (a spec needs a few levels)") from None
    except ValueError as exc:  # int() past Python's digit limit, a malformed timestamp
        raise SpecError(file, "-", f"a value cannot be read ({exc})", "write numbers of a sane size") from None


def read_text(path: str | Path, *, what: str, example: str) -> str:
    """The UTF-8 text of the untrusted file ``path``; a missing, unreadable, huge or binary file is a SpecError."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(str(path), "-", f"is a directory, not a {what} file", f"pass a file, e.g. {example}")
    if not path.is_file():
        raise SpecError(str(path), "-", "file not found", f"pass an existing file, e.g. {example}")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(str(path), "-", f"cannot be read ({exc.strerror or exc})", "check the file's permissions") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(str(path), "-", f"larger than {MAX_SPEC_BYTES} bytes", f"a {what} file is small text; pass the right file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), f"byte {exc.start}", "not UTF-8 text (binary or another encoding)",
                        f"pass the {what} as UTF-8 text") from None  # fmt: skip

def load_spec(path: str | Path, model: type[S]) -> S:
    """The one loader: read YAML, validate with ``model``, turn every failure into SpecError."""
    return parse_spec(read_spec_text(path), str(path), model)


def read_spec_text(path: str | Path) -> str:
    """A spec file's text, for a caller that keeps exactly what it validated (a drill's snapshot)."""
    return read_text(path, what="spec", example="drills/environments/local.yaml")


def parse_spec(text: str, file: str, model: type[S]) -> S:
    """Validate the YAML ``text`` of ``file`` with ``model``; errors name ``file``."""
    data = _parse_yaml(text, file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(file, model, exc) from None


def _parse_yaml(text: str, file: str) -> dict[str, Any]:
    data = load_yaml(text, file)
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


