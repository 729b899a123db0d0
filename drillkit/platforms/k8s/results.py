"""A load worker's request log, carried home in its pod's log.

In the pod: ``python -m drillkit.platforms.k8s.results --dir /results -- locust ...`` runs
the command, then prints the folder's request-log parts as a gzipped tar in base64 between
two marker lines, the end marker holding the archive's sha256. At home: ``extract`` finds the
markers in the log drillkit read through the API, checks the digest and unpacks only
``part-*.parquet`` files. A log the kubelet rotated (cut) fails the digest and says so.

>>> text = archive_text(Path("/results"), "worker-0")   # doctest: +SKIP
>>> extract(text, Path("reports/run/request_log"))      # doctest: +SKIP
[PosixPath('reports/run/request_log/part-worker-0-1-000000.parquet'), ...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import socket
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from drillkit.errors import ComponentError

BEGIN = "===== drillkit request log begin"
END = "===== drillkit request log end"
_PART = re.compile(r"^part-[A-Za-z0-9._-]+\.parquet$")
_BLOCK = re.compile(rf"^{BEGIN} (?P<name>\S+) =====\n(?P<body>.*?)^{END} sha256=(?P<sha>[0-9a-f]{{64}}) =====$", re.MULTILINE | re.DOTALL)


def archive_text(folder: Path, name: str) -> str:
    """The marked, base64 tar.gz of the folder's request-log parts."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for part in sorted(folder.glob("part-*.parquet")):
            tar.add(part, arcname=part.name)
    data = buffer.getvalue()
    encoded = base64.encodebytes(data).decode()
    return f"{BEGIN} {name} =====\n{encoded}{END} sha256={hashlib.sha256(data).hexdigest()} =====\n"


def extract(log: str, dest: Path) -> list[Path]:
    """Unpack every marked archive in ``log`` into ``dest``; ComponentError when none is whole."""
    blocks = list(_BLOCK.finditer(log))
    if not blocks:
        cut = BEGIN in log
        raise ComponentError("the worker's log holds no complete request log" + (
            ": it was cut (the kubelet rotates pod logs at 10 MiB); replay with more workers" if cut else
            ": it ended before Locust finished (see its log)"))  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for block in blocks:
        data = base64.b64decode(block["body"])
        if hashlib.sha256(data).hexdigest() != block["sha"]:
            raise ComponentError(f"request log of {block['name']} is damaged (sha256 mismatch): the pod log was cut or mangled")
        written += _unpack(data, dest)
    return written


def _unpack(data: bytes, dest: Path) -> list[Path]:
    written = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            # Only flat request-log parts: nothing from a pod log may write outside dest.
            if not member.isfile() or not _PART.match(member.name):
                raise ComponentError(f"unexpected entry {member.name!r} in a worker's request log: refused")
            source = tar.extractfile(member)
            assert source is not None
            target = dest / member.name
            target.write_bytes(source.read())
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drillkit.platforms.k8s.results", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="the request-log folder the command writes")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run (Locust)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    code = subprocess.call(command)
    sys.stdout.write("\n" + archive_text(args.dir, socket.gethostname()))  # markers start a line
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
