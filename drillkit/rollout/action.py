"""A rollout inside a drill (the ``rollout_version`` Chaos Toolkit action): the release built
when it is a variant of the environment's own model, the canary compared on the drill's trace.

>>> roll_out(platform, "v1-stale", environment="env.yaml", trace=None, variant={"shuffled_permille": 1000})  # doctest: +SKIP
RolledOut(targets=['primary-0'], ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit.errors import SpecError
from drillkit.platforms.base import Platform
from drillkit.rollout.engine import Rollout, plan_rollout
from drillkit.rollout.sample import sample_requests
from drillkit.spec import model_cache
from drillkit.workload.golden import golden_of


@dataclass(frozen=True)
class RolledOut:
    targets: list[str]  # every node the release reached
    region: str
    first_served_at: float  # the drill's fault start: users could get the release from then on
    report: dict[str, Any]


def roll_out(platform: Platform, version: str, *, environment: str, trace: str | None, variant: dict[str, int]) -> RolledOut:
    """Build the variant when asked, roll ``version`` out under the environment's policy."""
    _build(platform, version, environment, variant)
    plan = plan_rollout(platform, version, source=environment)
    golden = golden_of(model_cache(platform.spec) / plan.previous)
    requests = sample_requests(golden, platform.spec.rollout.compare_requests, trace=Path(trace) if trace else None)
    report = Rollout(platform, plan, policy=platform.spec.rollout, requests=requests).run()
    reached = list(dict.fromkeys(s.node for s in report.steps if s.role != "rollback"))
    return RolledOut(reached, platform.spec.primary.name, report.first_served_at or report.started_at, report.model_dump(mode="json"))


def _build(platform: Platform, version: str, environment: str, variant: dict[str, int]) -> None:
    from drillkit.platforms.provision import ensure_built

    changed = {k: v for k, v in variant.items() if v != {"shuffled_permille": 0, "work": 1}[k]}
    if not changed:
        return
    if not platform.spec.workload.is_builtin:
        raise SpecError(environment, "rollout_version", "shuffle_permille and slowdown rebuild the built-in recommender",
                        "build your release yourself (`drillkit model build --version V --repository EXPORT`) and name it")  # fmt: skip
    ensure_built(platform.spec.model.model_copy(update={"version": version}), model_cache(platform.spec), **changed)
