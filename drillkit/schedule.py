"""Scheduling a suite: a Kubernetes CronJob manifest or a crontab line for a plain host.

The CronJob runs the image built from the repository's ``Dockerfile`` (its entry point is
``drillkit``) with ``drillkit suite <suite> --reports /results``; ``/results`` is a
PersistentVolumeClaim so run folders, suite folders and ``history.sqlite`` outlive the
pod. ``concurrencyPolicy: Forbid`` keeps two suites off the same environment, and
``backoffLimit: 0`` leaves retries to the suite (environment errors only, never verdicts).

>>> cronjob("drills/suites/nightly.yaml", schedule="0 3 * * *")["spec"]["concurrencyPolicy"]
'Forbid'
>>> crontab_line("drills/suites/nightly.yaml", schedule="0 3 * * *", repo=Path("/srv/drillkit"))[:9]
'0 3 * * *'
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from drillkit.errors import SpecError

DEFAULT_IMAGE = "drillkit:latest"  # `docker build -t drillkit:latest .`, then push it where the cluster pulls from
DEFAULT_PVC = "drillkit-results"
RESULTS = "/results"
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}


def validate_cron(expression: str) -> str:
    """The expression when it is a valid 5-field cron schedule (or a macro such as ``@daily``)."""
    text = " ".join(expression.split())
    if text in _MACROS:
        return text
    parts = text.split(" ")
    if len(parts) != 5:
        raise SpecError("--cron", "schedule", f"{expression!r} has {len(parts)} fields, a cron schedule has 5",
                        'write "minute hour day-of-month month day-of-week", e.g. "0 3 * * *"')  # fmt: skip
    for index, part in enumerate(parts):
        for item in part.split(","):
            _check_item(item, index)
    return text


def _check_item(item: str, index: int) -> None:
    name, low, high = _FIELDS[index]
    match = re.fullmatch(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?", item.lower())
    if match is None or (match.group(2) is not None and int(match.group(2)) == 0):
        raise SpecError("--cron", name, f"{item!r} is not a cron item", "use *, N, N-M, */S, N-M/S or a list of them")
    if match.group(1) == "*":
        return
    for value in match.group(1).split("-"):
        if not low <= _number(value, index) <= high:
            raise SpecError("--cron", name, f"{value!r} is out of range", f"use {low}..{high}")


def _number(value: str, index: int) -> int:
    names = _NAMES.get(index, [])
    if value in names:
        return names.index(value) + (1 if index == 3 else 0)  # months count from 1, weekdays from 0
    return int(value) if value.isdigit() else -1


def cronjob(suite: str, *, schedule: str, image: str = DEFAULT_IMAGE, pvc: str = DEFAULT_PVC,
            namespace: str | None = None, name: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A ``batch/v1`` CronJob that runs ``drillkit suite <suite> --reports /results``."""
    job = name or "drillkit-" + re.sub(r"[^a-z0-9-]", "-", Path(suite).stem.lower())[:43]
    metadata: dict[str, Any] = {"name": job, "labels": {"app.kubernetes.io/name": "drillkit"}}
    if namespace:
        metadata["namespace"] = namespace
    container = {
        "name": "drillkit", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["drillkit", "suite", suite, "--reports", RESULTS],
        "volumeMounts": [{"name": "results", "mountPath": RESULTS}],
    }  # fmt: skip
    pod = {"restartPolicy": "Never", "containers": [container],
           "volumes": [{"name": "results", "persistentVolumeClaim": {"claimName": pvc}}]}  # fmt: skip
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata,
        "spec": {"schedule": validate_cron(schedule), "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 3600,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 5,
                 "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"metadata": {"labels": metadata["labels"]},
                                                                          "spec": pod}}}},
    }  # fmt: skip


def crontab_line(suite: str, *, schedule: str, repo: Path, reports: str = "reports", log: str = "reports/cron.log") -> str:
    """A crontab line: cd to the repository, run under flock (no overlaps), append to a log.

    The lock lives in ``<reports>/.lock/`` (mode 0700), not in /tmp: flock(1) can lock a file it
    may only read, so any local user able to open a shared lock file could hold it and stop
    every scheduled suite. ``chmod`` tightens a folder made earlier with a wider mode, and
    fails (so the suite does not run) when someone else owns it.
    """
    lock_dir = shlex.quote(str(Path(reports) / ".lock"))
    lock = shlex.quote(str(Path(reports) / ".lock" / "suite.lock"))
    command = (f"cd {shlex.quote(str(repo))} && mkdir -p -m 700 {lock_dir} && chmod 700 {lock_dir} && "
               f"flock -n {lock} .venv/bin/drillkit suite {shlex.quote(suite)} --reports {shlex.quote(reports)} "
               f">> {shlex.quote(log)} 2>&1")  # fmt: skip
    return f"{validate_cron(schedule)} {command}"
