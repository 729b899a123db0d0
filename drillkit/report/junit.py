"""JUnit XML for CI: one testcase per drill (suites) or per gate rule (``drillkit gate --junit``).

The format is the one JUnit parsers accept (``testsuites > testsuite > testcase`` with
``failure`` / ``error`` / ``skipped`` children); a failure's ``message`` carries the
breached budget and the measured value.

>>> write_junit(Path("junit.xml"), "nightly", [Case("drills.nightly", "node-crash", 31.2)])   # doctest: +SKIP
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One testcase; at most one of ``failure`` / ``error`` / ``skipped`` is set."""

    classname: str
    name: str
    time_s: float = 0.0
    failure: str | None = None  # the check failed (the message names budget and measured value)
    error: str | None = None  # it could not be evaluated (environment failure, no data)
    skipped: str | None = None
    output: str = ""
    properties: dict[str, str] = field(default_factory=dict)


def write_junit(path: Path, suite: str, cases: list[Case], *, timestamp: float | None = None,
                properties: dict[str, str] | None = None) -> Path:  # fmt: skip
    """Write one ``testsuite`` named ``suite`` holding ``cases``."""
    root = ET.Element("testsuites", _counts(cases) | {"name": suite})
    attrs = _counts(cases) | {"name": suite}
    if timestamp is not None:
        attrs["timestamp"] = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    element = ET.SubElement(root, "testsuite", attrs)
    if properties:
        _properties(element, properties)
    for case in cases:
        _case(element, case)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _counts(cases: list[Case]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(c.failure is not None for c in cases)),
        "errors": str(sum(c.error is not None for c in cases)),
        "skipped": str(sum(c.skipped is not None for c in cases)),
        "time": f"{sum(c.time_s for c in cases):.3f}",
    }


def _case(parent: ET.Element, case: Case) -> None:
    element = ET.SubElement(parent, "testcase", {"classname": case.classname, "name": case.name, "time": f"{case.time_s:.3f}"})
    if case.properties:
        _properties(element, case.properties)
    for tag, message in (("failure", case.failure), ("error", case.error), ("skipped", case.skipped)):
        if message is not None:
            child = ET.SubElement(element, tag, {"message": message.splitlines()[0] if message else tag})
            child.text = message
    if case.output:
        ET.SubElement(element, "system-out").text = case.output


def _properties(parent: ET.Element, values: dict[str, str]) -> None:
    props = ET.SubElement(parent, "properties")
    for key, value in values.items():
        ET.SubElement(props, "property", {"name": key, "value": str(value)})
