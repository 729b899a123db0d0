"""``python -m drillkit.netfault``: run the fault proxy until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from drillkit.netfault.faults import read_config
from drillkit.netfault.server import FaultProxy


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m drillkit.netfault", description="drillkit's TCP fault proxy")
    parser.add_argument("--config", type=Path, required=True, help="routes JSON")
    parser.add_argument("--control-port", type=int, default=0, help="control API port (0: a free one)")
    parser.add_argument("--ready-file", type=Path, help="where to write the bound ports once ready")
    args = parser.parse_args()
    proxy = FaultProxy(read_config(args.config), control_port=args.control_port, ready_file=args.ready_file)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, proxy.stop)
        await proxy.serve()

    try:
        import uvloop  # type: ignore[import-not-found]  # faster when installed; optional

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
