"""Queries against Prometheus through prometheus-api-client, with the auth, TLS, timeouts and
retries an external server needs; credentials come only from environment variables and are
never part of an error, a journal or a report.

>>> client = PromClient.from_spec(spec.prometheus, url="http://127.0.0.1:9090")  # doctest: +SKIP
>>> client.instant("sum(up)")                                                   # doctest: +SKIP
[Series(labels={}, points=((1795487653.1, 7.0),))]
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from drillkit.errors import EnvironmentFailure, SpecError
from drillkit.netutil import is_loopback
from drillkit.spec import PrometheusSpec

RETRY_ON = (500, 502, 503, 504)
log = logging.getLogger(__name__)


class PrometheusError(EnvironmentFailure):
    """Prometheus could not be reached or refused a query (the message names URL and reason)."""


@dataclass(frozen=True)
class Series:
    """One time series of a result: its labels and ``(unix time, value)`` points (NaN dropped)."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]

    def as_dict(self) -> dict[str, object]:
        return {"labels": self.labels, "points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class Credentials:
    """Auth read from the environment; ``repr`` never shows a secret."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "bearer" if self.headers else "basic" if self.basic else "none"


def credentials(spec: PrometheusSpec, environ: Mapping[str, str] = os.environ) -> Credentials:
    """Read the credentials ``spec`` names; a missing variable fails loudly, naming it."""
    if spec.bearer_token_env:
        return Credentials(headers={"Authorization": f"Bearer {_env(environ, spec.bearer_token_env, 'bearer_token_env')}"})
    if spec.basic_auth_user_env and spec.basic_auth_password_env:
        user = _env(environ, spec.basic_auth_user_env, "basic_auth_user_env")
        return Credentials(basic=(user, _env(environ, spec.basic_auth_password_env, "basic_auth_password_env")))
    return Credentials()


def _env(environ: Mapping[str, str], name: str, field_name: str) -> str:
    value = environ.get(name)
    if not value:
        raise SpecError("environment", f"prometheus.{field_name}", f"environment variable {name} is not set",
                        f"export {name}=... before running drillkit")  # fmt: skip
    return value


class PromClient:
    """Instant and range queries; every failure is a PrometheusError naming the URL.

    Attributes: ``url``, ``auth`` (the kind of credentials, never their values).
    """

    def __init__(self, url: str, *, creds: Credentials = Credentials(), verify: bool | str = True,
                 timeout_s: float = 10.0, retries: int = 3) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.auth = creds.kind
        retry = Retry(total=retries, backoff_factor=0.2, status_forcelist=RETRY_ON, allowed_methods=("GET", "POST"))
        session = requests.Session()
        session.verify = verify  # True, False or a CA bundle path
        self._session, self._creds, self._timeout_s = session, creds, timeout_s
        self._api = PrometheusConnect(self.url, headers=creds.headers or None, auth=creds.basic, retry=retry,
                                      session=session, timeout=timeout_s)  # fmt: skip

    @classmethod
    def from_spec(cls, spec: PrometheusSpec, *, url: str, environ: Mapping[str, str] = os.environ) -> PromClient:
        """The client for ``url`` as ``spec`` configures it; SpecError for credentials that would
        travel in clear or a CA file that is not there (before any query, not at the first one)."""
        creds = credentials(spec, environ)
        _check_transport(spec, url, creds)
        return cls(url, creds=creds, verify=_verify(spec), timeout_s=spec.timeout_s, retries=spec.retries)

    def instant(self, query: str, at: float | None = None) -> list[Series]:
        """The value of ``query`` now (or at unix time ``at``)."""
        params = {"time": f"{at:.3f}"} if at is not None else None
        result = self._call(lambda: self._api.custom_query(query, params=params))
        return [Series(r["metric"], _points([r["value"]])) for r in result]

    def range(self, query: str, start: float, end: float, step_s: float = 1.0) -> list[Series]:
        """``query`` from ``start`` to ``end`` (whole seconds: the client rounds them) every ``step_s``."""
        begin, finish = (datetime.fromtimestamp(t, UTC) for t in (start, end))
        result = self._call(lambda: self._api.custom_query_range(query, begin, finish, step=f"{step_s:g}s"))
        return [Series(r["metric"], _points(r["values"])) for r in result]

    def frame(self, query: str, start: float, end: float, step_s: float = 1.0) -> pd.DataFrame:
        """Range data as a pandas frame: one row per point, a column per label plus ``time``, ``value``."""
        rows = [{**s.labels, "time": t, "value": v} for s in self.range(query, start, end, step_s) for t, v in s.points]
        return pd.DataFrame(rows, columns=None if rows else ["time", "value"])

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now (``/api/v1/alerts``): each one's ``labels``, ``state``
        (pending or firing) and ``activeAt``."""
        return self._call(self._alerts)

    def _alerts(self) -> list[dict[str, Any]]:
        # prometheus-api-client has no call for the alerts endpoint; the same session (retries,
        # TLS) and credentials serve it.
        response = self._session.get(f"{self.url}/api/v1/alerts", headers=self._creds.headers or None, auth=self._creds.basic,
                                     timeout=self._timeout_s)  # fmt: skip
        if response.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {response.status_code} ({response.content[:200]!r})")
        alerts = response.json().get("data", {}).get("alerts", [])
        return [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []

    def ready(self) -> bool:
        """True when the server answers its readiness endpoint."""
        try:
            return self._api.check_prometheus_connection()
        except requests.RequestException:
            return False

    def _call(self, fn):  # type: ignore[no-untyped-def]
        try:
            return fn()
        except PrometheusApiClientException as exc:
            raise PrometheusError(f"Prometheus at {self.url} refused the query: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise PrometheusError(f"Prometheus at {self.url} is unreachable: {type(exc).__name__}: {_short(exc)}") from None


def _check_transport(spec: PrometheusSpec, url: str, creds: Credentials) -> None:
    parts = urlsplit(url)
    # a loopback server (the embedded Prometheus, a port-forward) keeps the secret on this host
    if creds.kind != "none" and parts.scheme == "http" and not is_loopback(parts.hostname) and not spec.credentials_over_http:
        raise SpecError("environment", "prometheus.credentials_over_http",
                        f"the {creds.kind} credentials would go in clear text to {parts.scheme}://{parts.netloc}",
                        "use the server's https:// URL; on a lab network only, set prometheus.credentials_over_http: true")  # fmt: skip


def _verify(spec: PrometheusSpec) -> bool | str:
    """requests' ``verify``: the CA bundle, True, or False (with a warning)."""
    if not spec.verify_tls:
        log.warning("WARNING: prometheus.verify_tls: false: the server's certificate is not checked, so anyone in "
                    "between can read the credentials and forge the data; set prometheus.ca_file instead")  # fmt: skip
        return False
    if spec.ca_file is None:
        return True
    if not spec.ca_file.exists():  # requests would raise a bare OSError at the first query
        raise SpecError("environment", "prometheus.ca_file", f"{spec.ca_file} does not exist",
                        "point prometheus.ca_file at the server's CA bundle (PEM), or remove it to use the system's")  # fmt: skip
    return str(spec.ca_file)


def _points(values: list[list[object]]) -> tuple[tuple[float, float], ...]:
    points = ((float(t), float(v)) for t, v in values)  # the API sends values as strings
    return tuple((t, v) for t, v in points if not math.isnan(v))


def _reason(exc: Exception) -> str:
    text = str(exc)
    marker = '"error":"'
    if marker in text:  # Prometheus' own message, e.g. a parse error
        return text.split(marker, 1)[1].split('"', 1)[0]
    return _short(exc)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."
