"""The embedded Prometheus (its scrape configuration and command line).

Prometheus scrapes every Triton node (labelled ``region`` and ``node``), the gateway's
built-in exporter and, through a file-discovery slot, the load generator: each of its
processes writes its own ``<loadgen_dir>/<worker>.json`` when it starts and removes it when
it quits. Nodes that scaling out adds are found the same way (``<scaled_dir>/<node>.json``,
``write_node_target``). The configuration is a pure function of a ``ScrapePlan``:

>>> plan = ScrapePlan(interval_s=1.0, nodes=(NodeTarget("primary-0", "primary", 9102),),
...     gateway_stats_port=8404, loadgen_dir=Path("/tmp/loadgen"))
>>> "region: primary" in render_config(plan)
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class NodeTarget:
    """A Triton node's metrics endpoint."""

    node: str
    region: str
    metrics_port: int
    role: str = ""  # primary or standby: alert rules tell a failover target from the region that failed


@dataclass(frozen=True)
class ScrapePlan:
    """Everything the Prometheus configuration depends on."""

    interval_s: float
    nodes: tuple[NodeTarget, ...]
    gateway_stats_port: int
    loadgen_dir: Path
    scaled_dir: Path | None = None  # file discovery of the nodes scaling out added
    rule_files: tuple[Path, ...] = ()  # alert rules (environment `alerting:`)
    alertmanager_port: int | None = None  # the embedded Alertmanager its alerts go to
    evaluation_interval_s: float | None = None  # rules' evaluation interval (None: the scrape interval)


def render_config(plan: ScrapePlan) -> str:
    """prometheus.yml for ``plan``."""
    interval = duration(plan.interval_s)
    evaluation = duration(plan.evaluation_interval_s or plan.interval_s)
    config: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": evaluation, "scrape_timeout": interval},
        "scrape_configs": [
            {"job_name": "triton", "static_configs": [_node(n) for n in plan.nodes], **_scaled(plan, interval)},
            {"job_name": "gateway", "static_configs": [{"targets": [f"127.0.0.1:{plan.gateway_stats_port}"]}]},
            {
                "job_name": "loadgen",
                "file_sd_configs": [{"files": [str(plan.loadgen_dir / "*.json")], "refresh_interval": interval}],
            },
        ],
    }
    if plan.rule_files:
        config["rule_files"] = [str(p) for p in plan.rule_files]
    if plan.alertmanager_port is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{plan.alertmanager_port}"]}]}]}
    return yaml.safe_dump(config, sort_keys=False)


def duration(seconds: float) -> str:
    """Prometheus' (and Alertmanager's) duration syntax: whole units only, so ``0.5s`` is ``500ms``.

    >>> duration(1.0), duration(0.25), duration(3600)
    ('1s', '250ms', '3600s')
    """
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _scaled(plan: ScrapePlan, interval: str) -> dict[str, object]:
    if plan.scaled_dir is None:
        return {}
    return {"file_sd_configs": [{"files": [str(plan.scaled_dir / "*.json")], "refresh_interval": interval}]}


def write_node_target(scaled_dir: Path, target: NodeTarget) -> Path:
    """Announce a node scaling out added (written aside, then renamed: never read half)."""
    scaled_dir.mkdir(parents=True, exist_ok=True)
    path = scaled_dir / f"{target.node}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([_node(target)]))
    tmp.replace(path)
    return path


def _node(target: NodeTarget) -> dict[str, object]:
    return {
        "targets": [f"127.0.0.1:{target.metrics_port}"],
        "labels": {"region": target.region, "node": target.node, **({"role": target.role} if target.role else {})},
    }


def prometheus_command(binary: str, *, config: Path, data_dir: Path, port: int, retention: str) -> list[str]:
    """Command line of the embedded Prometheus (TSDB in the environment's state folder)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address=127.0.0.1:{port}",
        # no --web.enable-lifecycle: /-/quit and /-/reload would let any local web page (DNS
        # rebinding) stop the drill's metrics or make it load another config; nothing needs them
        "--log.level=warn",
    ]
