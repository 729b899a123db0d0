"""The ``drillkit`` command line: parse, call the library, print (rich tables or ``--json``).

One module per command group; each registers its commands on the shared ``app``.
Exit codes are ``drillkit.errors.ExitCode`` (listed in the README).
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from drillkit.cli import backup, drill, environment, journal, kubernetes, model, release, traffic  # noqa: F401  (registers the commands)
from drillkit.cli._app import app, err
from drillkit.errors import DrillkitError, ExitCode


def main() -> None:
    """Console entry point: map drillkit errors to documented exit codes."""
    try:
        code = app(standalone_mode=False)
    except DrillkitError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(int(exc.exit_code))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        exc.show()  # type: ignore[attr-defined]
        sys.exit(int(ExitCode.INVALID_INPUT))
    sys.exit(code if isinstance(code, int) else int(ExitCode.OK))


if __name__ == "__main__":
    main()
