"""A Chaos Toolkit control that writes every activity's start and end, and the start of the
experiment's rollbacks, to the drill timeline.

The drill runner adds it to the experiment with the timeline file as argument; each line is
fsynced, so the timeline survives a crash of the runner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drillkit.events import fire


def before_rollback_control(context: dict[str, Any], timeline: str, **kwargs: Any) -> None:
    """The experiment's rollbacks begin: the fix starts here, before drillkit's own undo of
    whatever is left (an alert's time to resolve is read from the first rollback_started)."""
    fire(Path(timeline), "rollback_started", phase="experiment")


def before_activity_control(context: dict[str, Any], timeline: str, **kwargs: Any) -> None:
    fire(Path(timeline), "activity_started", **_describe(context))


def after_activity_control(context: dict[str, Any], state: dict[str, Any], timeline: str, **kwargs: Any) -> None:
    fire(Path(timeline), "activity_ended", **_describe(context), status=state.get("status"), output=_plain(state.get("output")),
         error=_error(state.get("exception")))  # fmt: skip


def _error(exception: Any) -> str | None:
    """The last line of a failed activity's traceback (chaoslib keeps it as a list of lines)."""
    if not exception:
        return None
    lines = [line for chunk in (exception if isinstance(exception, list) else [exception]) for line in str(chunk).splitlines()]
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1][:2000] if lines else None


def _describe(activity: dict[str, Any]) -> dict[str, Any]:
    provider = activity.get("provider", {})
    return {"name": activity.get("name"), "type": activity.get("type"), "func": provider.get("func"),
            "arguments": provider.get("arguments", {})}  # fmt: skip


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
