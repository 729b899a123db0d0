"""The run record of a Kubernetes environment: ``<state_dir>/<env>/kubernetes.json``.

``up`` writes it before touching any cluster, so the id it labels every object with
(``drillkit.io/run``) is known to ``down``, to faults and to ``drillkit recover`` even when
``up`` itself was killed half way. A second ``up`` keeps the id (it re-applies the same
objects); ``down`` removes the record.

>>> record = new_run("k8s", now=1767225600.0)
>>> record.run
'k8s-20260101000000'
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class RunRecord(BaseModel):
    """What ``up`` recorded: the run id and when it started."""

    model_config = ConfigDict(frozen=True)

    environment: str
    run: str
    started_at: float
    replicas: dict[str, int] = {}  # a region scaled away from its spec's nodes: its replicas now


def new_run(environment: str, *, now: float) -> RunRecord:
    """A fresh run id: the environment and the UTC start time (a valid label value)."""
    return RunRecord(environment=environment, run=f"{environment}-{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}", started_at=now)


def load_run(path: Path) -> RunRecord | None:
    """The recorded run, or None when nothing was brought up."""
    try:
        return RunRecord.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None


def save_run(path: Path, record: RunRecord) -> None:
    """Write atomically: a crash leaves the old record or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=2))
    tmp.replace(path)
