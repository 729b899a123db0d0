"""drillkit's webhook receiver: Alertmanager's notifications, each recorded with the time it arrived.

Alertmanager POSTs its webhook payload (version 4: a group's ``status`` and its ``alerts``,
each with ``status``, ``labels``, ``startsAt``, ``endsAt``, ``fingerprint``) to ``/alerts``.
The receiver keeps what a drill judges, stamped with the receive time, one JSON line per
notification; it keeps no annotations (they may hold anything). ``GET /healthz`` answers 200.
A body over 1 MiB gets a 413, one that is not such a payload a 400, and is not recorded; the file
stops growing at ``MAX_FILE_BYTES``.

On the embedded platform it runs as a component of the environment
(``python -m drillkit.alerting.receiver --listen 127.0.0.1:PORT --out FILE``), so notifications
between drills are kept too; a drill against an external Alertmanager runs it in a thread.

>>> receiver = Receiver(("127.0.0.1", 0), Path("/tmp/n.jsonl")); receiver.start()   # doctest: +SKIP
>>> read_notifications(Path("/tmp/n.jsonl"), since=0.0)                          # doctest: +SKIP
[]
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drillkit.timeline import append_line

MAX_BODY_BYTES = 1 << 20
MAX_FILE_BYTES = 64 << 20
PATH = "/alerts"

_Label = Annotated[str, Field(max_length=1024)]


class NotifiedAlert(BaseModel):
    """One alert in a notification, as the drill judges it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[Annotated[str, Field(max_length=128)], _Label] = Field(max_length=64)
    startsAt: str = Field("", max_length=64)  # noqa: N815 (Alertmanager's field names)
    endsAt: str = Field("", max_length=64)  # noqa: N815
    fingerprint: str = Field("", max_length=64)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class Payload(BaseModel):
    """Alertmanager's webhook payload (what of it is kept)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=256)
    alerts: list[NotifiedAlert] = Field(max_length=10_000)


class Notification(BaseModel):
    """A notification as recorded: the payload's alerts and when it arrived (unix time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    received_at: float
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[NotifiedAlert]


class Receiver(ThreadingHTTPServer):
    """The HTTP server; ``start`` serves in a daemon thread, ``stop`` ends it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], out: Path) -> None:
        super().__init__(address, _Handler)
        self.out = out
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.started = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def start(self) -> Receiver:
        self._thread.start()
        self.started = True
        return self

    def stop(self) -> None:
        """End the server (started or only bound) and free its port."""
        if self.started:
            self.shutdown()
        self.server_close()

    def record(self, payload: Payload) -> bool:
        """Append the notification, stamped now; False once the file is full."""
        note = Notification(received_at=time.time(), status=payload.status, receiver=payload.receiver, alerts=payload.alerts)
        with self.lock:
            if self.out.exists() and self.out.stat().st_size > MAX_FILE_BYTES:
                return False
            append_line(self.out, note.model_dump(mode="json"))
        return True


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(200 if self.path == "/healthz" else 404, b"ok\n" if self.path == "/healthz" else b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        if self.path != PATH:
            return self._answer(404, b"not found\n")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            return self._answer(413, b"a JSON body of at most 1 MiB\n")
        if length <= 0:
            return self._answer(400, b"a JSON body (Content-Length) is needed\n")
        try:
            payload = Payload.model_validate_json(self.rfile.read(length))
        except ValidationError:
            return self._answer(400, b"not an Alertmanager webhook payload\n")
        self._answer(200 if self.server.record(payload) else 507, b"ok\n")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # every notification is in the file; a line per request would only grow the log


def read_notifications(path: Path, *, since: float, offset: int = 0) -> tuple[list[Notification], list[str], int]:
    """The notifications received since ``since`` in the file from byte ``offset`` on, a note for
    every line that is not one (the file is untrusted: a damaged line is skipped and named, never a
    traceback), and the offset to read on from (an unfinished last line is read again next time)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(MAX_FILE_BYTES)
    except FileNotFoundError:
        return [], [], offset
    except OSError as exc:
        return [], [f"{path}: cannot read ({exc})"], offset
    whole = data[: data.rfind(b"\n") + 1]
    found, bad = [], []
    for number, line in enumerate(whole.splitlines(), start=1):
        try:
            note = Notification.model_validate_json(line)
        except ValidationError:
            bad.append(f"{path}: the line at byte {offset} + line {number} is not a recorded notification")
            continue
        if note.received_at >= since:
            found.append(note)
    return found, bad, offset + len(whole)


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` too) as an address.

    >>> parse_listen("127.0.0.1:9099")
    ('127.0.0.1', 9099)
    """
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m drillkit.alerting.receiver", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True, help="host:port")
    parser.add_argument("--out", type=Path, required=True, help="the JSON-lines file of notifications")
    args = parser.parse_args(argv)
    server = Receiver(parse_listen(args.listen), args.out)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"receiving Alertmanager notifications on {server.url}, into {args.out}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
