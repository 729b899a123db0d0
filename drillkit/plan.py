"""Validate a whole drill before anything is touched (``drillkit validate``, ``run --dry-run``).

The drill YAML, the environment, the Chaos Toolkit experiment (every activity's module,
function and arguments bound to its real signature by chaoslib), the trace and its length
are all checked; any problem is a PlanError naming the file, the step and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit.chaos.context import ENV_KEY
from drillkit.errors import SpecError
from drillkit.spec import DrillSpec, EnvironmentSpec, load_drill, load_environment
from drillkit.spec.suite import DrillOverrides
from drillkit.trace import Trace, read_trace

_SLACK_S = 20.0  # rollbacks (node restarts) and measurement take time beyond the pauses


@dataclass(frozen=True)
class DrillPlan:
    """Everything a run needs, validated."""

    path: Path
    spec: DrillSpec
    environment: EnvironmentSpec
    experiment: dict[str, Any]
    trace: Trace


def plan_drill(path: str | Path, overrides: DrillOverrides | None = None) -> DrillPlan:
    """Load and validate every input of the drill at ``path`` (with a suite's ``overrides`` merged in)."""
    spec = load_drill(path) if overrides is None else overrides.apply(load_drill(path))
    environment = load_environment(spec.environment)
    experiment = load_experiment(spec.experiment, spec.environment)
    trace = read_trace(spec.load.trace, max_user_id=environment.model.users - 1)
    needed = spec.load.warmup_s + spec.load.cooldown_s + experiment_pauses(experiment) + _SLACK_S
    if trace.duration_s / spec.load.speed < needed:
        raise SpecError(str(path), "load.trace", f"{spec.load.trace} lasts {trace.duration_s / spec.load.speed:.0f} s at this "
                        f"speed; the drill needs about {needed:.0f} s of traffic",
                        "use a longer trace (`drillkit traffic synth --duration ...`) or a lower speed")  # fmt: skip
    return DrillPlan(Path(path), spec, environment, experiment, trace)


def load_experiment(path: Path, environment_file: Path) -> dict[str, Any]:
    """Read a Chaos Toolkit experiment, point it at the environment, validate it with chaoslib."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    try:
        experiment = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(str(path), "-", "experiment not found", "point `experiment:` at a file in chaos/") from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), f"line {exc.lineno}", f"not valid JSON ({exc.msg})", "fix the syntax there") from None
    experiment.setdefault("configuration", {})[ENV_KEY] = str(environment_file)
    try:
        ensure_experiment_is_valid(experiment)
    except ChaosException as exc:
        raise SpecError(str(path), "experiment", str(exc), "see `drillkit faults` for the activities and their arguments") from None
    return experiment


def experiment_pauses(experiment: dict[str, Any]) -> float:
    """Seconds of pauses in the method (the planned fault duration)."""
    total = 0.0
    for activity in experiment.get("method", []):
        pauses = activity.get("pauses", {})
        total += float(pauses.get("before", 0)) + float(pauses.get("after", 0))
    return total
