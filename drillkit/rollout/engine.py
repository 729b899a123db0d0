"""A verified rolling upgrade with automatic rollback.

1. The new version is published into every region's repository (verified there).
2. The canary (the first node of the primary region) moves onto it: drained at the gateway,
   restarted, its answers checked against the new version's golden answers, let back in.
3. It serves live traffic for ``bake_s``, then it is compared with a node still on the old
   version (``drillkit.rollout.compare``) and judged by the environment's rollout policy.
   A release of your own model has no golden answers yet: once its canary passed, they are
   recorded from it (the old version's probes and rules), and every later node is checked
   against them.
4. If it passes, every other node moves, one at a time, the primary region first.
5. If any bound is passed, or a node cannot serve the new version, every node moved so far
   goes back to the old version, each verified by the old version's golden answers.

Before any node moves, the undo (every node back to the old version) is in the undo log:
``drillkit recover`` finishes a rollback that a crash interrupted. ``RolloutReport`` holds
every step's times, the comparison and the decision; ``on_step`` sees it after each step.

>>> report = Rollout(platform, "v2", policy=platform.spec.rollout, requests=sample).run()   # doctest: +SKIP
>>> report.outcome, report.time_to_rollback_s                                              # doctest: +SKIP
('rolled_back', 41.3)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Literal

from drillkit.errors import DrillkitError, SpecError
from drillkit.model.client import EncodedRequest
from drillkit.model.repository import verify
from drillkit.platforms.base import Platform
from drillkit.rollout.compare import compare
from drillkit.rollout.report import Comparison, Outcome, RolloutPlan, RolloutReport, Step
from drillkit.spec import model_cache
from drillkit.spec.rollout import RolloutPolicy
from drillkit.workload.golden import GoldenSet, golden_of, recorded_or_builtin, write_golden
from drillkit.workload.record import record
from drillkit.workload.trace import Request

UNDO = "restore_versions"


def plan_rollout(platform: Platform, version: str, *, source: str) -> RolloutPlan:
    """The rollout of ``version`` on this platform; SpecError (naming ``source``, the
    environment file) when it cannot start from one version."""
    served = sorted({n.version or platform.spec.model.version for n in platform.status().nodes()})
    if len(served) != 1:
        raise SpecError(source, "nodes", f"the nodes serve several versions ({', '.join(served)}): a rollout starts from one",
                        "finish or roll back the earlier rollout first (`drillkit recover` ends an interrupted one)")  # fmt: skip
    if served[0] == version:
        raise SpecError(source, "version", f"every node already serves {version}", "name another version")
    order = platform.rollout_order()
    return RolloutPlan(version=version, previous=served[0], order=order, reference=order[1])


def judge(policy: RolloutPolicy, c: Comparison) -> list[str]:
    """Every bound the canary passed (empty: it may proceed)."""
    reasons = []
    if c.wrong_share > policy.max_wrong_share:
        reasons.append(f"wrong answers: {c.wrong} of {c.answered} ({c.wrong_share:.1%}) above {policy.max_wrong_share:.1%}; "
                       f"first: {c.first_wrong}")  # fmt: skip
    if c.error_share_new > policy.max_error_share:
        reasons.append(f"errors: {c.errors_new} of {c.requests} ({c.error_share_new:.1%}) above {policy.max_error_share:.1%}; "
                       f"first: {c.first_error_new}")  # fmt: skip
    # The median and the tail both: on a busy machine the tails of two equal nodes move apart more
    # than their medians do, and a release several times slower moves the median first. The tail
    # is the quantile the sample holds steadily (p90 of 100 requests); a comparison from before
    # it had one judged its p99.
    tail = ((f"p{round(c.tail_quantile * 100):g}", c.tail_ms_old, c.tail_ms_new) if c.tail_quantile is not None
            else ("p99", c.p99_ms_old, c.p99_ms_new))  # fmt: skip
    for name, old, new in (("p50", c.p50_ms_old, c.p50_ms_new), tail):
        if old is None or new is None:
            continue
        allowed = policy.max_latency_ratio * max(old, policy.latency_floor_ms)
        if new > allowed:
            reasons.append(f"latency: {name} {new:.1f} ms against {old:.1f} ms on the old version, above "
                           f"{policy.max_latency_ratio:g} x max(old, {policy.latency_floor_ms:g} ms) = {allowed:.1f} ms")  # fmt: skip
    if policy.max_p99_ms is not None and c.p99_ms_new is not None and c.p99_ms_new > policy.max_p99_ms:
        reasons.append(f"latency: p99 {c.p99_ms_new:.1f} ms above {policy.max_p99_ms:g} ms")
    return reasons


class Rollout:
    """One rollout in progress (see the module docstring).

    Attributes:
        platform: where it runs.
        plan: the version, the previous one, the order and the reference node.
        policy: the comparison's size and the bounds that roll back.
        requests: the compared sample (trace rows, or the previous version's golden probes).
        golden: the previous version's golden set (its rules judge the canary's answers).
        on_step: called with the report after every step (persist it, show progress).
    """

    def __init__(self, platform: Platform, plan: RolloutPlan, *, policy: RolloutPolicy, requests: Sequence[EncodedRequest],
                 on_step: Callable[[RolloutReport], None] = lambda r: None, sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.platform, self.plan, self.policy, self.requests = platform, plan, policy, requests
        self.golden: GoldenSet = golden_of(model_cache(platform.spec) / plan.previous)
        self.on_step, self.sleep = on_step, sleep
        self.report = RolloutReport(plan=plan, policy=policy, started_at=time.time())

    def run(self) -> RolloutReport:
        """Roll out; roll back at the first bound passed or node refused; the final report.

        The undo it records first (``undo``) stays pending: a drill's rollback (or `drillkit
        recover`) puts every node back; a release that is meant to stay marks it done."""
        self.undo = self.platform.undo_log().record("rollout_version", UNDO, {"version": self.plan.previous, "nodes": self.plan.order})
        self.platform.publish_version(self.plan.version)
        moved: list[str] = []
        try:
            self._forward(moved)
        except KeyboardInterrupt:
            self._decide(["interrupted (Ctrl-C or SIGTERM)"])
            self._back(moved)
            raise
        if self.report.decision == "roll_back":
            return self._back(moved)
        return self._end("completed")

    def _forward(self, moved: list[str]) -> None:
        for node in self.plan.order:
            step = self._move(node, self.plan.version, "canary" if node == self.plan.canary else "upgrade")
            moved.append(node)
            if step.error is not None:
                return self._decide([f"{node} could not serve {self.plan.version}: {step.error}"])
            if node == self.plan.canary:
                self.sleep(self.policy.bake_s)
                reasons = self._compare() or self._release_golden()
                self._decide(reasons)
                if reasons:
                    return None
        return None

    def _release_golden(self) -> list[str]:
        """The release's golden answers, recorded from the canary that just passed when it has
        none (a reason to roll back when its answers are not stable enough to be golden)."""
        version_dir = model_cache(self.platform.spec) / self.plan.version
        manifest = verify(version_dir)
        if recorded_or_builtin(version_dir, manifest) is not None:
            return []
        url = next(n.endpoint or "" for n in self.platform.status().nodes() if n.name == self.plan.canary)
        requests = [Request(p.model, p.inputs, p.version, p.label) for p in self.golden.probes]
        rules = {f"{m}/{o}": r for m, rs in self.golden.rules.items() for o, r in rs.items()}
        try:
            golden = record(url, requests, version=self.plan.version, manifest_sha256=manifest.sha256, overrides=rules)
        except DrillkitError as exc:
            return [f"the canary's answers cannot be recorded as {self.plan.version}'s golden answers: {exc}"]
        write_golden(version_dir, golden)
        self.platform.adopt_golden(golden)
        return []

    def _compare(self) -> list[str]:
        urls = {n.name: n.endpoint or "" for n in self.platform.status().nodes()}
        comparison = compare((self.plan.reference, urls[self.plan.reference]), (self.plan.canary, urls[self.plan.canary]),
                             self.requests, self.golden, concurrency=self.policy.compare_concurrency)  # fmt: skip
        self._update(comparison=comparison)
        return judge(self.policy, comparison)

    def _decide(self, reasons: list[str]) -> None:
        self._update(decision="roll_back" if reasons else "proceed", reasons=reasons, decided_at=time.time())

    def _back(self, moved: list[str]) -> RolloutReport:
        failed = [s for s in (self._move(node, self.plan.previous, "rollback") for node in reversed(moved)) if s.error]
        ended, first, decided = time.time(), self.report.first_served_at, self.report.decided_at
        self._update(outcome="rollback_failed" if failed else "rolled_back", ended_at=ended,
                     time_to_detect_s=decided - first if decided is not None and first is not None else None,
                     time_to_rollback_s=None if failed else ended - self.report.started_at)  # fmt: skip
        return self.report

    def _move(self, node: str, version: str, role: Literal["canary", "upgrade", "rollback"]) -> Step:
        requested = time.time()
        try:
            switch = self.platform.set_node_version(node, version)
            step = Step(node=node, version=version, role=role, requested_at=requested, drained_at=switch.drained_at,
                        started_at=switch.started_at, verified_at=switch.verified_at, serving_at=switch.serving_at)  # fmt: skip
        except DrillkitError as exc:
            step = Step(node=node, version=version, role=role, requested_at=requested, error=str(exc))
        self._update(steps=[*self.report.steps, step])
        return step

    def _end(self, outcome: Outcome) -> RolloutReport:
        self._update(outcome=outcome, ended_at=time.time())
        return self.report

    def _update(self, **fields: object) -> None:
        self.report = self.report.model_copy(update=fields)
        self.on_step(self.report)
