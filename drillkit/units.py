"""Typed values shared by the journal and its sections.

``Seconds`` is a duration that may be infinite ("never happened": a drill that never
recovered). JSON has no infinity, so it is written as the string ``"never"`` and read back
as ``math.inf``; NaN is refused. One type, one rule, instead of ``null`` plus a flag.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(Seconds).dump_python(math.inf, mode="json")
'never'
>>> TypeAdapter(Seconds).validate_python("never")
inf
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

NEVER = "never"


def _read(value: Any) -> Any:
    return math.inf if value == NEVER else value


def _finite_or_inf(value: float) -> float:
    if math.isnan(value):
        raise ValueError("a duration cannot be NaN")
    if value == -math.inf:
        raise ValueError("a duration cannot be -inf")
    return value


def _write(value: float) -> float | str:
    return NEVER if math.isinf(value) else value


Seconds = Annotated[
    float,
    BeforeValidator(_read),
    AfterValidator(_finite_or_inf),
    PlainSerializer(_write, return_type=Any, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"const": NEVER}], "description": "seconds, or 'never'"}),
]


class Record(BaseModel):
    """A frozen journal record: unknown keys are refused, so a damaged file is named, not guessed at."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def shown(value: float | None, digits: int = 2) -> str:
    """A duration for people: ``1.25 s``, ``never`` or ``-``."""
    if value is None:
        return "-"
    return NEVER if math.isinf(value) else f"{value:.{digits}f} s"
