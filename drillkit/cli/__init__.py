"""The ``drillkit`` command line: parse, call the library, print (rich tables or ``--json``).

One module per command group; each registers its commands on the shared ``app``.
Exit codes are ``drillkit.errors.ExitCode`` (listed in the README).
"""

from __future__ import annotations

import re
import sys

import typer
from rich.markup import escape

from drillkit.cli import (  # noqa: F401  (registers the commands)
    alerting,
    backup,
    drill,
    environment,
    golden,
    journal,
    kubernetes,
    model,
    release,
    rollout,
    traffic,
)
from drillkit.cli._app import app, err
from drillkit.errors import DrillkitError, ExitCode


def one_line(message: str) -> str:
    """``message`` with its line breaks and other control characters shown as spaces.

    >>> one_line("bad value\\nstats socket x")
    'bad value stats socket x'
    """
    return " ".join(_CONTROL.sub(" ", message).split())


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def main() -> None:
    """Console entry point: map drillkit errors to documented exit codes."""
    try:
        code = app(standalone_mode=False)
    except DrillkitError as exc:
        # One line, never wrapped: a pipeline greps it, and a message may quote a hostile value
        # (or chaoslib's multi-line text) that must not look like lines of its own.
        err.print(f"[bold red]error:[/] {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True)
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
