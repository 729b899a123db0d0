"""A Chaos Toolkit control that writes every activity's start and end to the drill timeline.

The drill runner adds it to the experiment with the timeline file as argument; each line is
fsynced, so the timeline survives a crash of the runner.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from drillkit.timeline import append_line


def before_activity_control(context: dict[str, Any], timeline: str, **kwargs: Any) -> None:
    append_line(Path(timeline), {"event": "activity_started", "at": time.time(), **_describe(context)})


def after_activity_control(context: dict[str, Any], state: dict[str, Any], timeline: str, **kwargs: Any) -> None:
    append_line(Path(timeline), {"event": "activity_ended", "at": time.time(), **_describe(context),
                       "status": state.get("status"), "output": _plain(state.get("output"))})  # fmt: skip


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
