"""A rich progress display for ``drillkit suite``: one bar over the drills, a line per drill."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from drillkit.suite import DrillOutcome

_COLORS = {"PASSED": "green", "FAILED": "red", "ERROR": "red", "SKIPPED": "yellow"}


class SuiteProgress:
    """A :class:`drillkit.suite.SuiteListener` drawing on ``console`` (stderr in the CLI)."""

    def __init__(self, console: Console, names: list[str], *, transient: bool = False) -> None:
        self.console, self.names = console, names
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self.progress = Progress(*columns, console=console, transient=transient)
        self.task = self.progress.add_task("suite", total=len(names))

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def drill_started(self, index: int, name: str, attempt: int) -> None:
        again = f" (retry {attempt})" if attempt else ""
        self.progress.update(self.task, description=f"drill {index + 1}/{len(self.names)}: [bold]{name}[/]{again}")

    def drill_finished(self, index: int, outcome: DrillOutcome) -> None:
        color = _COLORS.get(outcome.status.value, "white")
        self.progress.console.print(f"  {outcome.name}: [{color}]{outcome.status.value}[/] "
                                    f"({outcome.duration_s:.0f} s, exit {outcome.exit_code})")  # fmt: skip
        self.progress.advance(self.task)

    def settling(self, seconds: float) -> None:
        self.progress.update(self.task, description=f"settling {seconds:g} s")
