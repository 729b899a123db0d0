"""The environment's Prometheus as a client, and the wait for its first scrape of the load.

>>> prom = prometheus_for(environment_spec, platform.status())   # doctest: +SKIP
>>> wait_for_loadgen(prom, deadline=time.monotonic() + 15)        # doctest: +SKIP
4.2
"""

from __future__ import annotations

import time

from drillkit.observe.client import PromClient, PrometheusError
from drillkit.platforms.base import EnvironmentStatus
from drillkit.spec import EnvironmentSpec

LOADGEN_UP = 'sum(up{job="loadgen"})'


def prometheus_for(spec: EnvironmentSpec, status: EnvironmentStatus) -> PromClient | None:
    """A client of the external Prometheus the spec names, else of the embedded one (None: neither)."""
    url = spec.prometheus.url or status.prometheus_url
    return PromClient.from_spec(spec.prometheus, url=url) if url else None


def wait_for_loadgen(prom: PromClient, deadline: float, poll_s: float = 0.5) -> float | None:
    """Seconds waited until Prometheus has scraped the load generator (None: not by ``deadline``)."""
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            if any(v >= 1 for s in prom.instant(LOADGEN_UP) for _, v in s.points):
                return time.monotonic() - started
        except PrometheusError:
            pass  # not up yet, or briefly unreachable: keep waiting until the deadline
        time.sleep(poll_s)
    return None
