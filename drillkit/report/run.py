"""A finished run folder as the reports read it: the typed journal and the request log.

Every renderer, the gate and the history take a :class:`RunFolder` and nothing else, so a
past run renders and gates the same again. The journal is read through the one reader
(:func:`drillkit.journal.read_journal`), which migrates older schemas and names what is
damaged; optional sections (slos, cross_check, series, abort, restore, release) are ``None``
or empty when the run did not produce them.

>>> run = load_run(Path("reports/region-outage-20260101-030000"))   # doctest: +SKIP
>>> run.name, run.verdict                                            # doctest: +SKIP
('region-outage', <Verdict.PASS: 'PASS'>)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from drillkit.journal import JOURNAL_NAME, Journal, read_journal
from drillkit.request_log import read_request_log
from drillkit.units import shown as seconds
from drillkit.verdict import Verdict

__all__ = ["JOURNAL_NAME", "RunFolder", "load_run", "seconds"]


@dataclass(frozen=True)
class RunFolder:
    """One drill's run folder and its validated journal."""

    path: Path
    journal: Journal

    @property
    def name(self) -> str:
        return self.journal.name

    @property
    def generated_at(self) -> float:
        return self.journal.generated_at

    @property
    def verdict(self) -> Verdict:
        return self.journal.verdict

    @cached_property
    def log(self) -> pd.DataFrame:
        """The request log (empty when the run has none); a damaged one is a SpecError naming it."""
        return read_request_log(self.path / "request_log")


def load_run(run_dir: Path) -> RunFolder:
    """Read a run folder; a folder without a valid journal is a SpecError naming what is wrong."""
    return RunFolder(Path(run_dir), read_journal(Path(run_dir) / JOURNAL_NAME))
