"""Drill annotations on Grafana: the fault window, the rollback and the verdict, posted to
Grafana's HTTP API (``POST {url}/api/annotations``) with a service-account token.

:func:`annotations_of` is a pure function of a journal, so what a drill posts is known (and
tested) without a Grafana. :func:`post_annotations` sends them with the standard library only,
each request bounded by ``spec.timeout_s``; an HTTP or network failure is a result with
``ok=False``, never an exception: a drill must not fail because Grafana is down. Only a wrong
configuration (the token variable unset, the token bound for a non-loopback ``http://`` URL, a
missing CA file) is an error, a :class:`~drillkit.errors.SpecError`. The token never appears in
a result, an error or a log line.

>>> notes = annotations_of(read_journal(Path("reports/region-outage-20260101-030000/journal.json")))  # doctest: +SKIP
>>> [n.text for n in notes]                                                                          # doctest: +SKIP
['fault injected: region_outage on primary-0, primary-1 (region primary)', 'rolled back',
 'verdict PASS: region-outage, RTO 2.00 s, failed 100']
>>> [r.ok for r in post_annotations(spec.grafana, notes)]                                            # doctest: +SKIP
[True, True, True]
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from drillkit.errors import SpecError
from drillkit.journal import Journal
from drillkit.netutil import is_loopback
from drillkit.spec.grafana import GrafanaSpec
from drillkit.units import shown

DEFAULT_TAGS = ("drillkit",)  # GrafanaSpec.tags' default; the committed dashboard shows these
API_PATH = "/api/annotations"
_MAX_ANSWER = 64 * 1024  # Grafana answers a few dozen bytes; never read an unbounded body
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Annotation:
    """One Grafana annotation: a point at ``time_ms``, or a region up to ``time_end_ms`` (unix ms).

    >>> Annotation(1_780_000_020_000, "rolled back", ("drillkit",)).body("drillkit")
    {'time': 1780000020000, 'tags': ['drillkit'], 'text': 'rolled back', 'dashboardUID': 'drillkit'}
    """

    time_ms: int
    text: str
    tags: tuple[str, ...]
    time_end_ms: int | None = None

    def body(self, dashboard_uid: str | None) -> dict[str, Any]:
        """The JSON body of ``POST /api/annotations`` (no ``dashboardUID``: an organization annotation)."""
        body: dict[str, Any] = {"time": self.time_ms, "tags": list(self.tags), "text": self.text}
        if self.time_end_ms is not None:
            body["timeEnd"] = self.time_end_ms
        if dashboard_uid is not None:
            body["dashboardUID"] = dashboard_uid
        return body


@dataclass(frozen=True)
class PostResult:
    """What became of one annotation: ``ok``, Grafana's HTTP ``status`` (None: no answer came),
    the ``error`` (None when ok) and the new annotation's ``id`` (when Grafana gave one)."""

    annotation: Annotation
    ok: bool
    status: int | None
    error: str | None = None
    id: int | None = None


def annotations_of(journal: Journal, *, tags: Sequence[str] = DEFAULT_TAGS) -> list[Annotation]:
    """The drill's annotations, oldest first: the fault window (a region from the fault's start to
    the end of the rollback; a point when nothing was rolled back), the rollback (a point) and the
    verdict (a point when the journal was written). Every one is tagged ``tags`` (pass
    ``spec.tags``), ``drill:<name>`` and ``verdict:<verdict>``."""
    verdict = journal.verdict.value
    all_tags = tuple(dict.fromkeys((*tags, f"drill:{journal.name}", f"verdict:{verdict}")))  # ordered, no repeats
    notes = []
    if journal.fault_start is not None:
        end = journal.rollback_end
        window_end = _ms(end) if end is not None and end >= journal.fault_start else None
        notes.append(Annotation(_ms(journal.fault_start), _fault_text(journal), all_tags, window_end))
    if journal.rollback_end is not None:
        notes.append(Annotation(_ms(journal.rollback_end), _rollback_text(journal), all_tags))
    notes.append(Annotation(_ms(journal.generated_at), _verdict_text(journal), all_tags))
    return notes


def _ms(unix_s: float) -> int:
    """Unix seconds -> the integer milliseconds Grafana takes.

    >>> _ms(1780000020.0005)
    1780000020000
    """
    return round(unix_s * 1000)


def _fault_text(journal: Journal) -> str:
    faults = [f"{f.fault} on {', '.join(f.targets)}" + (f" (region {f.region})" if f.region else "") for f in journal.faults]
    return "fault injected: " + ("; ".join(faults) if faults else journal.name)


def _rollback_text(journal: Journal) -> str:
    failed = [u.fault for u in journal.undone if u.error]
    if not failed:
        return "rolled back"
    return f"rolled back, {len(failed)} undo failed: {', '.join(failed)} (run drillkit recover)"


def _verdict_text(journal: Journal) -> str:
    text = f"verdict {journal.verdict.value}: {journal.name}"
    m = journal.measurements
    text += f", RTO {shown(m.rto_s)}, failed {m.failed_requests}" if m is not None else ", no measurements"
    return text + (", interrupted" if journal.interrupted else "")


def check_grafana(spec: GrafanaSpec, *, environ: Mapping[str, str] = os.environ) -> None:
    """SpecError when ``spec`` cannot be used as it stands (the checks :func:`post_annotations`
    makes first): call it before a drill starts, so a wrong setting stops nothing half-way."""
    _token(spec, environ)
    _check_transport(spec)
    _tls_context(spec)


def post_annotations(spec: GrafanaSpec, annotations: Sequence[Annotation], *,
                     environ: Mapping[str, str] = os.environ) -> list[PostResult]:  # fmt: skip
    """Post each annotation to ``{spec.url}/api/annotations``; one result per annotation, in order.

    HTTP and network failures are results (``ok=False``), never exceptions. After a network
    failure the rest are not tried (each would wait up to ``timeout_s`` on the same dead server).
    SpecError only for a wrong configuration, before anything is sent.
    """
    token = _token(spec, environ)
    _check_transport(spec)
    opener = urllib.request.build_opener(_NoRedirects(), urllib.request.HTTPSHandler(context=_tls_context(spec)))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    results: list[PostResult] = []
    unreachable: str | None = None
    for note in annotations:
        if unreachable is not None:
            results.append(PostResult(note, ok=False, status=None, error=f"not sent: {unreachable}"))
            continue
        result = _post(opener, spec, note, headers, token)
        if not result.ok and result.status is None:
            unreachable = result.error
        results.append(result)
    _log(spec, results)
    return results


def _post(opener: urllib.request.OpenerDirector, spec: GrafanaSpec, note: Annotation, headers: dict[str, str],
          token: str) -> PostResult:  # fmt: skip
    data = json.dumps(note.body(spec.dashboard_uid)).encode()
    request = urllib.request.Request(spec.url + API_PATH, data=data, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=spec.timeout_s) as answer:
            status, payload = answer.status, answer.read(_MAX_ANSWER)
    except urllib.error.HTTPError as exc:  # an answer, but not a success (also a redirect, not followed)
        with exc:  # its body is an open response
            reason = _redact(_http_reason(exc), token)
        return PostResult(note, ok=False, status=exc.code, error=f"Grafana at {spec.url} answered {exc.code}: {reason}")
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, timed out, TLS, a torn answer
        return PostResult(note, ok=False, status=None,
                          error=f"Grafana at {spec.url} gave no answer: {_redact(_failure(exc), token)}")  # fmt: skip
    return PostResult(note, ok=200 <= status < 300, status=status, id=_annotation_id(payload),
                      error=None if 200 <= status < 300 else f"Grafana at {spec.url} answered {status}")  # fmt: skip


def _failure(exc: BaseException) -> str:
    """``ConnectionRefusedError: [Errno 111] Connection refused``: urllib wraps the cause in a URLError."""
    cause = exc.reason if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException) else exc
    return f"{type(cause).__name__}: {_short(cause)}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to wherever ``Location`` points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # the 3xx then reaches the caller as an HTTPError, named with its Location


def _http_reason(exc: urllib.error.HTTPError) -> str:
    if 300 <= exc.code < 400:
        return f"a redirect to {exc.headers.get('Location', '?')} (not followed: the token would go along)"
    try:
        answer = json.loads(exc.read(_MAX_ANSWER) or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        answer = {}
    message = answer.get("message") if isinstance(answer, dict) else None
    return _short(message) if isinstance(message, str) and message else _short(exc.reason)


def _annotation_id(payload: bytes) -> int | None:
    try:
        answer = json.loads(payload or b"{}")
    except ValueError:
        return None
    value = answer.get("id") if isinstance(answer, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token(spec: GrafanaSpec, environ: Mapping[str, str]) -> str:
    token = environ.get(spec.token_env)
    if not token:
        raise SpecError("environment", "grafana.token_env", f"environment variable {spec.token_env} is not set",
                        f"export {spec.token_env}=<a Grafana service-account token> before running drillkit, "
                        "or remove the grafana section")  # fmt: skip
    return token


def _check_transport(spec: GrafanaSpec) -> None:
    """The token goes in clear only to this host (a local Grafana, a port-forward) or when allowed."""
    parts = urlsplit(spec.url)
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not spec.credentials_over_http:
        raise SpecError("environment", "grafana.credentials_over_http",
                        f"the Grafana token would go in clear text to http://{parts.netloc}",
                        "use the server's https:// URL; on a lab network only, set grafana.credentials_over_http: true")  # fmt: skip


def _tls_context(spec: GrafanaSpec) -> ssl.SSLContext:
    if not spec.verify_tls:
        log.warning("WARNING: grafana.verify_tls: false: the server's certificate is not checked, so anyone in "
                    "between can read the token; set grafana.ca_file instead")  # fmt: skip
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if spec.ca_file is None:
        return ssl.create_default_context()
    if not spec.ca_file.is_file():  # ssl would raise a bare FileNotFoundError
        raise SpecError("environment", "grafana.ca_file", f"{spec.ca_file} does not exist",
                        "point grafana.ca_file at the server's CA bundle (PEM), or remove it to use the system's")  # fmt: skip
    try:
        return ssl.create_default_context(cafile=str(spec.ca_file))
    except (ssl.SSLError, OSError) as exc:
        raise SpecError("environment", "grafana.ca_file", f"{spec.ca_file} is not a CA bundle ({_short(exc)})",
                        "point grafana.ca_file at the server's CA bundle (PEM)") from None  # fmt: skip


def _log(spec: GrafanaSpec, results: list[PostResult]) -> None:
    posted = sum(r.ok for r in results)
    if posted == len(results):
        log.info("posted %d annotation(s) to Grafana at %s", posted, spec.url)
        return
    first = next(r.error for r in results if not r.ok)
    log.warning("Grafana annotations: %d of %d posted to %s; first failure: %s", posted, len(results), spec.url, first)


def _redact(text: str, token: str) -> str:
    """``text`` with the token masked: an error can echo a request (a proxy's page, a header dump)."""
    return text.replace(token, "***")


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 300 else text[:300] + "..."
