"""The history store: one row per drill run in SQLite (``reports/history.sqlite``).

Every ``drillkit run`` appends its run at the end (:func:`record_run`); ``drillkit history
--rebuild`` recreates the store from the run folders, since the journal stays the single
source of truth. The gate reads it to catch regressions across runs and releases.

>>> store = History(Path("reports/history.sqlite"))          # doctest: +SKIP
>>> store.append(row_of(load_run(Path("reports/node-crash-20260101-030000"))))   # doctest: +SKIP
>>> [r.rto_s for r in store.rows(drill="node-crash")]         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from drillkit.errors import SpecError
from drillkit.report.run import JOURNAL_NAME, RunFolder, load_run

HISTORY_NAME = "history.sqlite"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryRow:
    """One run as the history keeps it (seconds; ``inf`` means never recovered)."""

    run_dir: str
    drill: str
    at: float  # the journal's generated_at
    release: str | None
    commit: str | None
    verdict: str
    exit_code: int
    rto_s: float | None
    ttd_s: float | None
    failed_requests: int | None
    error_budget_consumed: float | None
    rpo_s: float | None
    restore_time_s: float | None


_COLUMNS = [f.name for f in fields(HistoryRow)]


@dataclass(frozen=True)
class Knee:
    """A region's knee, as a capacity drill measured it."""

    environment: str
    region: str
    at: float  # the run's generated_at
    knee_rps: float
    limited_by: str  # slo, generator (at least), ramp (at least)
    nodes: int | None  # the region's nodes when it was measured
    run_dir: str


def knees_of(run: RunFolder) -> list[Knee]:
    """The knees a run measured (none for a drill that ramped nothing)."""
    curves = run.journal.capacity_curve
    if curves is None:
        return []
    nodes = _ramp_nodes(run)
    return [Knee(run.journal.environment.name, c.region, run.generated_at, c.knee_rps, c.limited_by, nodes.get(c.region),
                 str(run.path.resolve())) for c in curves.regions if c.knee_rps is not None]  # fmt: skip


def _ramp_nodes(run: RunFolder) -> dict[str, int]:
    from drillkit.events import ActivityEnded
    from drillkit.knee import RAMP

    return {str(e.output["region"]): int(e.output["nodes"]) for e in run.journal.timeline
            if isinstance(e, ActivityEnded) and e.func == RAMP and isinstance(e.output, dict) and e.output.get("nodes")}  # fmt: skip


def row_of(run: RunFolder) -> HistoryRow:
    """The history row of a run folder."""
    j = run.journal
    m, restore = j.measurements, j.restore
    return HistoryRow(
        run_dir=str(run.path.resolve()), drill=run.name, at=run.generated_at,
        release=j.release.release if j.release else None, commit=j.release.commit if j.release else None,
        verdict=run.verdict.value, exit_code=j.exit_code,
        rto_s=m.rto_s if m else None, ttd_s=m.ttd_s if m else None, failed_requests=m.failed_requests if m else None,
        error_budget_consumed=m.error_budget_consumed if m else None,
        rpo_s=restore.rpo_s if restore else None, restore_time_s=restore.restore_time_s if restore else None,
    )  # fmt: skip


class History:
    """The SQLite store at ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            columns = ", ".join(f'"{c}"' for c in _COLUMNS)  # quoted: "commit" is an SQL keyword
            db.execute(f"CREATE TABLE IF NOT EXISTS runs ({columns}, PRIMARY KEY (run_dir))")
            db.execute("CREATE INDEX IF NOT EXISTS runs_by_drill ON runs (drill, at)")
            found = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
            db.execute("CREATE TABLE IF NOT EXISTS knees (run_dir, environment, region, at, knee_rps, limited_by, nodes, "
                       "PRIMARY KEY (run_dir, region))")  # a table of its own: stores from before it need no migration
        if found != _COLUMNS:
            raise SpecError(str(path), "runs", f"the table has columns {found}, not {_COLUMNS}", _REBUILD)

    def append(self, row: HistoryRow, knees: list[Knee] | None = None) -> None:
        """Add a run and the knees it measured (a run appended twice, e.g. by a rebuild, replaces itself)."""
        with self._db() as db:
            db.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(_COLUMNS))})", astuple(row))
            for k in knees or []:
                db.execute("INSERT OR REPLACE INTO knees VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (k.run_dir, k.environment, k.region, k.at, k.knee_rps, k.limited_by, k.nodes))  # fmt: skip

    def latest_knee(self, environment: str, region: str) -> Knee | None:
        """The newest knee measured for a region of an environment (None: never measured)."""
        with self._db() as db:
            found = db.execute("SELECT environment, region, at, knee_rps, limited_by, nodes, run_dir FROM knees "
                               "WHERE environment = ? AND region = ? ORDER BY at DESC LIMIT 1", (environment, region)).fetchone()  # fmt: skip
        if found is None:
            return None
        try:
            knee = Knee(str(found[0]), str(found[1]), float(found[2]), float(found[3]), str(found[4]),
                        None if found[5] is None else int(found[5]), str(found[6]))  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise SpecError(str(self.path), "knees", f"a row does not hold a knee ({exc})", _REBUILD) from None
        return knee

    def rows(self, *, drill: str | None = None, before: float | None = None, last: int | None = None) -> list[HistoryRow]:
        """Runs in time order, optionally of one drill, before a time, only the ``last`` N."""
        clauses = {"drill = ?": drill, "at < ?": before}
        where = " AND ".join(["1=1", *(c for c, v in clauses.items() if v is not None)])
        args = [v for v in clauses.values() if v is not None]
        query = f"SELECT * FROM runs WHERE {where} ORDER BY at DESC, run_dir DESC"
        with self._db() as db:
            raw = list(db.execute(query + (f" LIMIT {int(last)}" if last else ""), args))
        try:
            found = [_row(r) for r in raw]
        except (TypeError, ValueError) as exc:
            raise SpecError(str(self.path), "runs", f"a row does not hold a run ({exc})", _REBUILD) from None
        return found[::-1]

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction; a damaged or foreign file is a SpecError naming it."""
        try:
            with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                yield db
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise
            raise SpecError(str(self.path), "-", f"cannot use the history store ({exc})", _REBUILD) from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # a damaged file may hold names that are not UTF-8
            raise SpecError(str(self.path), "-", f"not a drillkit history store ({exc})", _REBUILD) from None


_REBUILD = "move the file away and run `drillkit history --rebuild` (the run folders are the source of truth)"


def _row(values: tuple[object, ...]) -> HistoryRow:
    """A stored row, checked: SQLite keeps whatever type was written."""
    row = HistoryRow(*values)
    for name in ("at", "rto_s", "ttd_s", "error_budget_consumed", "rpo_s", "restore_time_s"):
        value = getattr(row, name)
        if value is not None and not isinstance(value, int | float):
            raise ValueError(f"{name} is {value!r}, not a number")
    return row


def rebuild(history: History, reports: Path) -> int:
    """Append every run folder under ``reports`` (also those inside suite folders); the count."""
    count = 0
    for journal in sorted([*reports.glob(f"*/{JOURNAL_NAME}"), *reports.glob(f"*/*/{JOURNAL_NAME}")]):
        try:
            run = load_run(journal.parent)
            history.append(row_of(run), knees_of(run))
            count += 1
        except (SpecError, KeyError, TypeError, ValueError) as exc:
            log.warning("skipped %s: %s", journal.parent, exc)
    return count


def record_run(path: Path, run_dir: Path) -> None:
    """Append a finished run; the drill's verdict must not depend on the store, so a failure is logged."""
    if not (run_dir / JOURNAL_NAME).exists():
        return
    try:
        run = load_run(run_dir)
        History(path).append(row_of(run), knees_of(run))
    except (sqlite3.Error, SpecError, OSError) as exc:
        log.warning("could not append %s to the history %s (`drillkit history --rebuild` recreates it): %s", run_dir, path, exc)


def find_history(target: Path) -> Path | None:
    """The store that belongs to a run or suite folder: ``history.sqlite`` in the folder's
    parent (a reports folder) or grandparent (a run inside a suite folder)."""
    for folder in (target.parent, target.parent.parent):
        if (folder / HISTORY_NAME).exists():
            return folder / HISTORY_NAME
    return None
