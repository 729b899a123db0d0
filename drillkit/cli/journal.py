"""``drillkit journal schema / check``: the journal's versioned schema, for scripts that read it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from drillkit.cli._app import JsonOption, app, out

journal_app = typer.Typer(no_args_is_help=True, help="The run journal's schema (journal.json), and checks against it.")
app.add_typer(journal_app, name="journal", rich_help_panel="Reports")


@journal_app.command("schema")
def schema() -> None:
    """Print the journal's JSON Schema (the version is its schema_version)."""
    from drillkit.journal import journal_schema

    out.print_json(json.dumps(journal_schema()))


@journal_app.command("check")
def check(run: Path, as_json: JsonOption = False) -> None:
    """Validate a run folder's journal (migrating an older schema); exit 2 naming what is wrong."""
    from drillkit.report.run import load_run

    loaded = load_run(run)
    if as_json:
        out.print_json(json.dumps({"run": str(run), "drill": loaded.name, "schema_version": loaded.journal.schema_version,
                                   "verdict": loaded.verdict.value}))  # fmt: skip
    else:
        out.print(f"{run}: a valid journal of drill {loaded.name} (schema {loaded.journal.schema_version}), verdict {loaded.verdict.value}")
