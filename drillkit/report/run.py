"""A finished run folder as the reports read it: journal.json and the request log.

Every renderer, the gate and the history take a :class:`RunFolder` and nothing else, so a
past run renders and gates the same again. Optional journal sections (slos, cross_check,
series, abort, restore, release) may be absent in older runs: the accessors return ``None``.

>>> run = load_run(Path("reports/region-outage-20260101-030000"))   # doctest: +SKIP
>>> run.name, run.verdict                                            # doctest: +SKIP
('region-outage', <Verdict.PASS: 'PASS'>)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from drillkit.errors import SpecError
from drillkit.request_log import read_request_log
from drillkit.verdict import Verdict

JOURNAL_NAME = "journal.json"


@dataclass(frozen=True)
class RunFolder:
    """One drill's run folder; ``journal`` is the parsed journal.json."""

    path: Path
    journal: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.journal["drill"]["name"])

    @property
    def generated_at(self) -> float:
        return float(self.journal.get("generated_at") or 0.0)

    @property
    def measurements(self) -> dict[str, Any]:
        return self.journal.get("measurements") or {}

    @property
    def verdict(self) -> Verdict:
        return run_verdict(self.journal)

    def section(self, key: str) -> Any:
        """An optional journal section, ``None`` when the run did not produce it."""
        return self.journal.get(key)

    @cached_property
    def log(self) -> pd.DataFrame:
        """The request log (empty when the run has none)."""
        return read_request_log(self.path / "request_log")


def load_run(run_dir: Path) -> RunFolder:
    """Read a run folder; a folder without a readable journal is a SpecError naming it."""
    path = Path(run_dir) / JOURNAL_NAME
    try:
        journal = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(str(run_dir), JOURNAL_NAME, "no journal in this folder",
                        "pass a run folder written by `drillkit run` (reports/<drill>-<time>/)") from None  # fmt: skip
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), f"line {exc.lineno}", f"not valid JSON ({exc.msg})", "re-run the drill") from None
    if not isinstance(journal, dict) or "drill" not in journal:
        raise SpecError(str(path), "drill", "not a drill journal", "pass a run folder written by `drillkit run`")
    return RunFolder(Path(run_dir), journal)


def run_verdict(journal: dict[str, Any]) -> Verdict:
    """FAIL when a check failed or the run did not exit cleanly; NO_DATA when a check had none."""
    verdicts = {c.get("verdict") for c in journal.get("checks") or []}
    if Verdict.FAIL.value in verdicts:
        return Verdict.FAIL
    if Verdict.NO_DATA.value in verdicts or not verdicts:
        return Verdict.NO_DATA
    return Verdict.PASS if journal.get("exit_code", 1) == 0 else Verdict.FAIL


def measured(m: dict[str, Any], key: str) -> float | None:
    """A measurement in seconds or a count: ``inf`` when it never happened, None when unknown."""
    if m.get(f"{key}_never"):
        return math.inf
    value = m.get(key)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def seconds(value: float | None, digits: int = 2) -> str:
    """A duration for people: ``1.25 s``, ``never`` or ``-``."""
    if value is None:
        return "-"
    return "never" if math.isinf(value) else f"{value:.{digits}f} s"
