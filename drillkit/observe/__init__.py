"""Observation through Prometheus: the embedded server, PromQL for SLOs, verdicts, guards.

- ``embedded``: the embedded Prometheus' scrape configuration and command line;
- ``promql``: SLO and guard specs -> PromQL (pure);
- ``client``: queries through prometheus-api-client with auth, TLS, timeouts and retries;
- ``slo``: verdicts from range data (pure);
- ``evidence``: what a drill collects from Prometheus for its journal;
- ``guards``: abort conditions watched while a drill runs;
- ``validate``: PromQL syntax and reachability, checked before anything runs.
"""

from drillkit.observe.embedded import (
    NodeTarget,
    ScrapePlan,
    prometheus_command,
    render_config,
    write_node_target,
)

__all__ = ["NodeTarget", "ScrapePlan", "prometheus_command", "render_config", "write_node_target"]
