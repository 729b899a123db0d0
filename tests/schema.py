"""Every journal a test writes must validate against the schema `drillkit journal schema` prints."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema


@cache
def printed_schema() -> dict[str, Any]:
    """The schema as the CLI prints it (not the model's method: what a script would read)."""
    done = subprocess.run([sys.executable, "-m", "drillkit", "journal", "schema"], capture_output=True, text=True,
                          timeout=120, check=True, env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})  # fmt: skip
    return json.loads(done.stdout)


def assert_valid_journal(path: Path) -> dict[str, Any]:
    """Validate a written journal.json against the printed schema; return it parsed."""
    journal = json.loads(path.read_text())
    jsonschema.validate(journal, printed_schema())
    return journal
