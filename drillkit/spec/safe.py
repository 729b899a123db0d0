"""Constrained value types shared by every spec: text and paths that cannot smuggle a line
into a generated file or a command line, and numbers that are finite and sane.

Spec values are pasted into haproxy.cfg, prometheus.yml, PromQL and child command lines.
A newline in ``state_dir`` would render its own config line (e.g. a second, public admin
socket), so every free string and path is refused when it holds a control character.

>>> check_no_control("ok/path")
'ok/path'
>>> check_no_control("a\\nstats socket ipv4@0.0.0.0:9999 level admin")
Traceback (most recent call last):
...
ValueError: contains control character '\\n' at position 1: values that reach a config file or a command line must be one plain line
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (which some
# parsers treat as line breaks).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Upper bounds for durations: far beyond any drill, small enough that arithmetic on them
# (deadlines, sleeps, timeouts rendered in ms) never overflows or waits forever.
MAX_SECONDS = 7 * 86_400.0
MAX_MS = 3_600_000  # one hour, for timeouts written in milliseconds
MAX_VALUE = 1e15  # a free threshold (bytes of GPU memory, a PromQL value): large, but finite and exact


def check_no_control(value: str) -> str:
    """``value`` when it holds no control character, else ValueError naming the first one."""
    match = _CONTROL.search(value)
    if match:
        raise ValueError(f"contains control character {match.group()!r} at position {match.start()}: values that reach "
                         "a config file or a command line must be one plain line")  # fmt: skip
    return value


def _check_path(value: Path) -> Path:
    check_no_control(str(value))
    return value


SafeText = Annotated[str, AfterValidator(check_no_control)]
"""A free string that may reach a config file or a command line: one plain line."""

SafePath = Annotated[Path, AfterValidator(_check_path)]
"""A path that may reach a config file or a command line: no control characters."""

Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
"""A finite duration in seconds, 0 .. 7 days."""
