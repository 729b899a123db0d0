"""Hypothesis strategies for hostile input: random bytes and text, and structured mutations of
the shipped valid files (so the fuzzer reaches deep fields, not only the YAML parser).

A structured mutation parses a shipped file, replaces or deletes one value somewhere in its
tree (or adds a key), and writes it back; the loader must then give a valid object or the
project's error, never another exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from drillkit.errors import DrillkitError

REPO = Path(__file__).resolve().parents[2]

# Values an attacker or a careless user writes: non-finite and huge numbers, control
# characters, wrong types, empty and nested containers.
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1e30, -1e9, 1e300, 99_999_999_999_999, 2**63, -(2**63) - 1]),
)
_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\n", "x\nstats socket ipv4@0.0.0.0:9999 level admin", 'primary"}) or vector(1) #',
                     "../../etc/passwd", "/etc/passwd", "\x00", "\u2028", "PASS", "fast", "inf", "-1", "os", "system"]),
)  # fmt: skip
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)
HOSTILE = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def paths_of(data: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every path to a value in ``data`` (bounded depth), the root included."""
    found = [prefix]
    if depth > 12:
        return found
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found.extend(paths_of(value, (*prefix, key), depth + 1))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """``data`` (a parsed shipped file) with one value replaced, deleted or a key added."""
    copy = json.loads(json.dumps(data, default=str))
    path = draw(st.sampled_from(paths_of(copy)))
    if not path:
        return draw(HOSTILE)
    parent, key = _parent(copy, path), path[-1]
    action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[key] = draw(HOSTILE)
    elif action == "delete":
        del parent[key]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE)
    else:
        parent.append(draw(HOSTILE))
    return copy


@st.composite
def damaged_bytes(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` truncated, with bytes flipped, or with a hostile snippet inserted."""
    action = draw(st.sampled_from(["truncate", "flip", "insert", "random"]))
    if action == "random":
        return draw(st.binary(max_size=256))
    at = draw(st.integers(min_value=0, max_value=max(len(original) - 1, 0)))
    if action == "truncate":
        return original[:at]
    if action == "flip":
        return original[:at] + bytes([original[at] ^ draw(st.integers(1, 255))]) + original[at + 1 :] if original else b"\xff"
    snippet = draw(st.sampled_from([b"\xff\xfe", b"[" * 3000, b"&a x\n", b"*a", b"\x00", b": : :", b"\n  - ", b"9" * 5000]))
    return original[:at] + snippet + original[at:]


def dump(data: Any, suffix: str) -> str:
    """``data`` as the text of a ``suffix`` file (YAML may carry non-JSON floats; JSON writes Infinity/NaN)."""
    if suffix == ".json":
        return json.dumps(data)
    return yaml.safe_dump(data, allow_unicode=True)


def load_shipped(path: Path) -> Any:
    """A shipped file's data (the starting point of structured mutations)."""
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def outcome(call: Callable[[], Any]) -> str:
    """``"ok"`` or ``"error"`` (the project's error); any other exception propagates and fails the test."""
    try:
        call()
    except DrillkitError:
        return "error"
    return "ok"
