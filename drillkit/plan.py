"""Validate a whole drill before anything is touched (``drillkit validate``, ``run --dry-run``).

The drill YAML, the environment, the Chaos Toolkit experiment (every activity's module,
function and arguments bound to its real signature by chaoslib), the trace and its length
are all checked; any problem is a PlanError naming the file, the step and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drillkit.chaos.context import ENV_KEY
from drillkit.errors import SpecError
from drillkit.model.repository import RECOMMENDER_MODELS
from drillkit.spec import DrillSpec, EnvironmentSpec, load_drill
from drillkit.spec.experiment import Trust, check_code, read_experiment
from drillkit.spec.loader import parse_spec, read_spec_text
from drillkit.spec.suite import DrillOverrides, EnvironmentOverrides
from drillkit.trace import Trace, read_trace
from drillkit.workload.repository import scan

_SLACK_S = 20.0  # rollbacks (node restarts) and measurement take time beyond the pauses


@dataclass(frozen=True)
class DrillPlan:
    """Everything a run needs, validated.

    ``environment_text`` is the environment file as it was validated: the run hands a copy of
    it to the experiment's activities, so editing the file during a drill (or a suite, which
    plans every drill first) changes nothing in it.
    """

    path: Path
    spec: DrillSpec
    environment: EnvironmentSpec
    environment_text: str
    experiment: dict[str, Any]
    trace: Trace
    blast_radius: tuple[str, ...] = ()  # attach mode: what each fault will touch, read before anything is


def plan_drill(path: str | Path, overrides: DrillOverrides | None = None,
               environment_overrides: EnvironmentOverrides | None = None) -> DrillPlan:  # fmt: skip
    """Load and validate every input of the drill at ``path`` (with a suite's ``overrides`` merged
    into the drill and its ``environment_overrides`` into the environment)."""
    spec = load_drill(path) if overrides is None else overrides.apply(load_drill(path))
    environment_text = read_spec_text(spec.environment)
    environment = parse_spec(environment_text, str(spec.environment), EnvironmentSpec)
    if environment_overrides is not None:
        # The activities read the environment from the text: it must say what was merged.
        environment = environment_overrides.apply(environment)
        environment_text = yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False)
    check_slo_regions(spec, environment, file=str(path))
    experiment = load_experiment(spec.experiment, spec.environment, Trust(spec.allow_modules, spec.allow_processes))
    trace = read_trace(spec.load.trace, max_user_id=environment.model.users - 1)
    check_trace_workload(trace, environment, file=str(path))
    needed = spec.load.warmup_s + spec.load.cooldown_s + experiment_pauses(experiment) + _SLACK_S
    if trace.duration_s / spec.load.speed < needed:
        raise SpecError(str(path), "load.trace", f"{spec.load.trace} lasts {trace.duration_s / spec.load.speed:.0f} s at this "
                        f"speed; the drill needs about {needed:.0f} s of traffic",
                        "use a longer trace (`drillkit traffic synth --duration ...`) or a lower speed")  # fmt: skip
    check_prometheus(spec, environment, file=str(path))
    check_alerting(spec, environment, file=str(path))
    blast = check_platform(experiment, environment, spec_file=spec.environment, experiment_file=spec.experiment)
    return DrillPlan(Path(path), spec, environment, environment_text, experiment, trace, tuple(blast))


def check_platform(experiment: dict[str, Any], environment: EnvironmentSpec, *, spec_file: Path, experiment_file: Path) -> list[str]:
    """Every fault of the experiment is one its platform can make (nothing is touched to know it);
    in attach mode, what each fault will touch of the user's deployment (read, and capped)."""
    from drillkit.chaos.actions import NEEDS
    from drillkit.platforms import open_platform

    platform = open_platform(environment, spec_file=str(spec_file))
    for section in ("method", "rollbacks"):
        for i, activity in enumerate(experiment.get(section) or []):
            provider = activity.get("provider", {})
            need = NEEDS.get(provider.get("func", "")) if provider.get("module") == "drillkit.chaos.actions" else None
            missing = platform.lacks(need) if need is not None else None
            if missing is not None:
                raise SpecError(str(experiment_file), f"{section}[{i}] ({activity.get('name')})",
                                f"{environment.platform} platform of {spec_file}: {missing.reason}", missing.fix)  # fmt: skip
    from drillkit.platforms.attached import AttachedPlatform

    if isinstance(platform, AttachedPlatform):
        from drillkit.platforms.k8s.blast import blast_radius

        return blast_radius(platform, experiment, str(experiment_file))
    return []


def check_trace_workload(trace: Trace, environment: EnvironmentSpec, *, file: str) -> None:
    """The trace asks for the models the environment serves (their inputs are checked against
    the live models' metadata when the load starts)."""
    if environment.workload.is_builtin:
        models: tuple[str, ...] = RECOMMENDER_MODELS
    else:
        assert environment.workload.repository is not None
        models = tuple(m.name for m in scan(environment.workload.repository))
    if trace.format == "recsys" and not environment.workload.is_builtin:
        raise SpecError(file, "load.trace", f"{trace.path} is a search/recommend trace; the environment serves "
                        f"the Triton repository {environment.workload.repository} (models {', '.join(models)})",
                        "replay its KServe v2 requests: `drillkit traffic import CAPTURE --out T.jsonl`")  # fmt: skip
    unknown = sorted(set(trace.kinds()) - set(models))
    if trace.format == "kserve" and unknown:
        first = int((trace.frame["kind"] == unknown[0]).to_numpy().argmax())
        raise SpecError(trace.path, f"request {first + 1}, model", f"the environment serves no model {unknown[0]}",
                        f"replay requests for {', '.join(models)}")  # fmt: skip


def check_slo_regions(spec: DrillSpec, environment: EnvironmentSpec, *, file: str) -> None:
    """Every region an SLO names is a region of the environment: its label value goes into PromQL, and a
    region that serves nothing would make a share SLO pass (or fail) on no traffic at all."""
    regions = [r.name for r in environment.regions]
    for i, check in enumerate(spec.slos):
        region = getattr(check, "region", None)
        if region is not None and region not in regions:
            raise SpecError(file, f"slos[{i}].region", f"{region!r} is not a region of {spec.environment}",
                            f"use one of {', '.join(regions)}")  # fmt: skip


def check_prometheus(spec: DrillSpec, environment: EnvironmentSpec, *, file: str) -> None:
    """The drill's PromQL parses, its windows hold two scrapes, and an external server answers it."""
    from drillkit.observe.client import PromClient
    from drillkit.observe.validate import check_server, check_syntax, check_windows, drill_queries

    queries = drill_queries(spec)
    check_windows(spec, file=file, scrape_interval_s=environment.prometheus.scrape_interval_s)
    check_syntax(queries, file=file)
    if environment.prometheus.url:  # the embedded one starts with the drill; an external one must answer now
        client = PromClient.from_spec(environment.prometheus, url=environment.prometheus.url)
        check_server(client, queries, file=file)


def check_alerting(spec: DrillSpec, environment: EnvironmentSpec, *, file: str) -> None:
    """The rules pass promtool (checked, and their unit tests run), every alert the drill demands
    has a rule where drillkit loads the rules (an external Prometheus' rules are its own), and
    Grafana's token is there when annotations are to be posted."""
    from drillkit.alerting.rules import alert_names, rule_files, validate_alerting

    if environment.grafana is not None:
        from drillkit.grafana.annotations import check_grafana

        check_grafana(environment.grafana)  # its token and transport, before anything runs
    alerting = environment.alerting
    if alerting is None:
        if spec.alerts:
            raise SpecError(file, "alerts", f"the environment {spec.environment} has no alerting: section to watch alerts with",
                            "add alerting: to the environment (README: Verify your alerting), or remove alerts:")  # fmt: skip
        return
    validate_alerting(alerting)
    if not environment.alerting_embedded:
        return
    known = alert_names(rule_files(alerting))
    for i, a in enumerate(spec.alerts):
        if a.alert not in known:
            raise SpecError(file, f"alerts[{i}].alert", f"no rule fires {a.alert!r} in the rules loaded",
                            f"use one of {', '.join(sorted(known)) or '(none)'}, or add its rule file to alerting.rule_files")  # fmt: skip


def load_experiment(path: Path, environment_file: Path, trust: Trust | None = None) -> dict[str, Any]:
    """Read a Chaos Toolkit experiment (JSON, or YAML for ``.yaml``/``.yml``), check that it runs only
    allowed code (``trust``: the drill's opt-ins), point it at the environment, validate it with chaoslib."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    experiment = read_experiment(path)
    check_code(experiment, str(path), trust or Trust())  # before chaoslib imports any module it names
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
        pauses = activity.get("pauses", {})  # finite seconds: read_experiment checked them
        total += float(pauses.get("before", 0)) + float(pauses.get("after", 0))
    return total
