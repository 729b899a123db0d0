"""Alertmanager: the embedded one's configuration and command line, and reading any one's alerts.

The embedded Alertmanager routes every alert to drillkit's receiver, grouped by all of its
labels (``group_by: ['...']``), so each alert is its own notification and its time is its own.

>>> "send_resolved: true" in render_config("http://127.0.0.1:9099/alerts", AlertmanagerSpec())
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import yaml

from drillkit.observe.embedded import duration
from drillkit.spec.alerting import AlertmanagerSpec

RECEIVER = "drillkit"


def render_config(receiver_url: str, spec: AlertmanagerSpec) -> str:
    """alertmanager.yml: one route, to drillkit's webhook receiver, resolved alerts included."""
    config = {
        "route": {
            "receiver": RECEIVER,
            "group_by": ["..."],
            "group_wait": duration(spec.group_wait_s),
            "group_interval": duration(spec.group_interval_s),
            "repeat_interval": duration(spec.repeat_interval_s),
        },
        "receivers": [{"name": RECEIVER, "webhook_configs": [{"url": receiver_url, "send_resolved": True, "max_alerts": 0}]}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_command(binary: str, *, config: Path, data_dir: Path, port: int) -> list[str]:
    """Command line of the embedded Alertmanager: loopback only, no cluster (it would listen on
    every interface, port 9094, and wait for peers before it notifies)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


class AlertmanagerError(Exception):
    """Alertmanager could not be read (the message names the URL and why)."""


def active_alerts(url: str, *, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds now (``GET /api/v2/alerts``): each one's ``labels`` and ``status.state``."""
    where = f"{url.rstrip('/')}/api/v2/alerts"
    try:
        response = requests.get(where, timeout=timeout_s)
        response.raise_for_status()
        alerts = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise AlertmanagerError(f"Alertmanager at {url} is unreachable or answered nonsense: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(alerts, list):
        raise AlertmanagerError(f"Alertmanager at {url}: /api/v2/alerts is not a list")
    return [a for a in alerts if isinstance(a, dict)]
