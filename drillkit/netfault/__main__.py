"""``python -m drillkit.netfault``: run the fault proxy until SIGTERM or SIGINT.

Exit codes: 0 after a signal, 2 for a bad ``--config`` (nothing bound), 4 when a port
cannot be bound or the token file cannot be written. Before binding, a fresh bearer token
for the control API goes to ``--token-file`` (mode 0600; clients read it there). Once bound,
one JSON line (the ``ProxyReady``) goes to stdout and, with ``--ready-file``, to that file
(atomically).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drillkit.errors import ExitCode
from drillkit.netfault.faults import read_config
from drillkit.netfault.server import FaultProxy
from drillkit.netfault.token import new_token, write_token_file


def main(argv: list[str] | None = None) -> int:
    """Parse, load the routes, serve until a signal; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m drillkit.netfault", description="drillkit's TCP fault proxy")
    parser.add_argument("--config", type=Path, required=True, help="routes JSON (see drillkit.netfault.write_config)")
    parser.add_argument("--control-port", type=int, default=0, help="control API port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--ready-file", type=Path, help="written once every port is bound: pid, control_port, routes")
    parser.add_argument("--token-file", type=Path, required=True,
                        help="written at start (mode 0600): the bearer token every control request must send")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        config = read_config(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"netfault: cannot load {args.config}: {exc}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    token = new_token()
    try:
        write_token_file(args.token_file, token)
    except OSError as exc:
        print(f"netfault: cannot write the token file {args.token_file}: {exc.strerror}", file=sys.stderr)
        return int(ExitCode.ENVIRONMENT)
    try:
        _event_loop_runner()(_serve(FaultProxy(config, control_port=args.control_port, ready_file=args.ready_file, token=token)))
    except OSError as exc:  # a fixed port already taken
        print(f"netfault: cannot bind: {exc}", file=sys.stderr)
        return int(ExitCode.ENVIRONMENT)
    return int(ExitCode.OK)


async def _serve(proxy: FaultProxy) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.stop)
    task = loop.create_task(proxy.serve())
    while proxy.ready is None and not task.done():
        await asyncio.sleep(0.01)
    if proxy.ready is not None:
        print(proxy.ready.model_dump_json(), flush=True)  # for a human or a pipe; the file is the contract
    await task


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop when installed (a faster data path), else asyncio's own loop."""
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return asyncio.run
    return uvloop.run  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main())
