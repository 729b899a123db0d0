"""Chaos Toolkit probes that ask the environment's Prometheus, for steady-state hypotheses.

The same PromQL the drill's SLOs use (``drillkit.observe.promql``), against the embedded
Prometheus or the external one the environment names (with its credentials). A query that
returns nothing raises: an empty result never satisfies a tolerance.

    {"type": "probe", "name": "errors-low", "tolerance": {"type": "range", "range": [0, 0.01]},
     "provider": {"type": "python", "module": "drillkit.chaos.prom_probes", "func": "prometheus_error_ratio",
                  "arguments": {"window_s": 10}}}
"""

from __future__ import annotations

from drillkit.chaos.context import Configuration, environment_file
from drillkit.errors import NotUpError
from drillkit.observe import promql
from drillkit.observe.client import PromClient, PrometheusError
from drillkit.observe.scrape import prometheus_for
from drillkit.platforms import open_platform
from drillkit.spec import load_environment

__all__ = ["prometheus_query", "prometheus_error_ratio", "prometheus_p99_ms", "prometheus_backends_up"]


def prometheus_query(query: str, *, configuration: Configuration = None) -> float:
    """The value of any PromQL query now (the largest, if it returns several series)."""
    return _value(configuration, query)


def prometheus_error_ratio(window_s: float = 10.0, *, configuration: Configuration = None) -> float:
    """Failed share of the load generator's requests over the last ``window_s`` seconds."""
    return _value(configuration, promql.error_ratio(window_s))


def prometheus_p99_ms(window_s: float = 10.0, *, configuration: Configuration = None) -> float:
    """p99 latency (ms) users saw over the last ``window_s`` seconds (client-side histogram)."""
    return _value(configuration, promql.latency_ms(0.99, window_s))


def prometheus_backends_up(region: str = "", *, configuration: Configuration = None) -> float:
    """Gateway backends UP according to HAProxy's exporter, in ``region`` or in all regions."""
    return _value(configuration, promql.backends_up(region or None))


def _client(configuration: Configuration) -> PromClient:
    path = environment_file(configuration)
    spec = load_environment(path)
    prom = prometheus_for(spec, open_platform(spec, spec_file=str(path)).status())
    if prom is None:
        raise NotUpError(f"environment {spec.name!r} has no Prometheus to ask: is it up (`drillkit up`)?")
    return prom


def _value(configuration: Configuration, query: str) -> float:
    found = [v for s in _client(configuration).instant(query) for _, v in s.points]
    if not found:
        raise PrometheusError(f"no data for {query}")
    return max(found)
