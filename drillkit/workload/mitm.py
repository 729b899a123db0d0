"""mitmproxy flow files, read by mitmproxy's own reader.

The flow format is mitmproxy's own and changes between its versions, so drillkit does not parse
it: it runs the user's ``mitmdump`` over the file with a small addon (``mitm_addon.py``) that
writes each request as a JSON line, and reads those lines as untrusted input. mitmproxy is not
installed into drillkit's environment (its pins conflict with Locust's and boto3's); drillkit
finds it as:

1. ``--mitmdump PATH`` (``mitmdump=``);
2. ``$DRILLKIT_MITMDUMP``;
3. ``mitmdump`` on ``PATH`` (``pipx install mitmproxy``);
4. the one ``make setup`` installs in its own venv beside drillkit's (``<venv>/mitmproxy``).

>>> [c.path for c in read_mitm(Path("flows"))]   # doctest: +SKIP
['/v2/models/ranker/infer', ...]
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from drillkit.errors import SpecError
from drillkit.workload.capture import MAX_CAPTURE_BYTES, Captured

ADDON = Path(__file__).with_name("mitm_addon.py")
TIMEOUT_S = 600.0
_FIX = "install mitmproxy (`pipx install mitmproxy`), pass --mitmdump PATH, or export the flows as HAR: mitmdump -nr FLOWS --set hardump=capture.har"


def find_mitmdump(explicit: str | None = None) -> str | None:
    """The mitmdump to run (see the module docstring), or None."""
    for candidate in (explicit, os.environ.get("DRILLKIT_MITMDUMP")):
        if candidate:
            return candidate
    return shutil.which("mitmdump") or _beside_venv()


def _beside_venv() -> str | None:
    path = Path(sys.prefix) / "mitmproxy" / "bin" / "mitmdump"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def read_mitm(path: Path, *, mitmdump: str | None = None) -> Iterator[Captured]:
    """The requests of a mitmproxy flow file; SpecError names the file and the fix."""
    binary = find_mitmdump(mitmdump)
    if binary is None:
        raise SpecError(str(path), "-", "a mitmproxy flow file, and no mitmdump was found to read it", _FIX)
    with tempfile.TemporaryDirectory(prefix="drillkit-mitm-") as folder:
        out = Path(folder) / "requests.jsonl"
        _run(binary, path, out)
        yield from _lines(path, out)


def _run(binary: str, path: Path, out: Path) -> None:
    command = [binary, "-q", "-n", "-r", str(path), "-s", str(ADDON), "--set", f"drillkit_out={out}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise SpecError(str(path), "-", f"mitmdump {binary!r} does not exist", _FIX) from None
    except subprocess.TimeoutExpired:
        raise SpecError(str(path), "-", f"mitmdump took more than {TIMEOUT_S:.0f} s to read it", "import a shorter capture") from None
    if done.returncode != 0:
        raise SpecError(str(path), "-", f"mitmproxy could not read it: {_reason(done.stdout + done.stderr)}",
                        "pass a flow file written by mitmproxy (-w), or export it as HAR")  # fmt: skip


def _reason(output: str) -> str:
    """mitmproxy's own words for why it could not read the file (its log goes to either stream)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    failed = [line for line in lines if "Failed to read" in line] or [line for line in lines if "rror" in line]
    return (failed or lines or ["no reason given"])[0][-300:]


def _lines(path: Path, out: Path) -> Iterator[Captured]:
    if not out.exists():
        return
    if out.stat().st_size > 2 * MAX_CAPTURE_BYTES:
        raise SpecError(str(path), "-", f"holds more than {MAX_CAPTURE_BYTES >> 20} MiB of requests", "import a shorter capture")
    with out.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            yield _captured(path, n, line)


def _captured(path: Path, n: int, line: str) -> Captured:
    try:
        raw: Any = json.loads(line)
        headers = {str(k).lower(): str(v) for k, v in raw["headers"].items()}
        return Captured(float(raw["at"]), str(raw["method"]).upper(), urlsplit(str(raw["path"])).path, headers,
                        base64.b64decode(raw["body"], validate=True))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise SpecError(str(path), f"flow {n}", f"mitmproxy's export is not readable ({type(exc).__name__})",
                        "check the mitmproxy version (10 or newer)") from None  # fmt: skip
