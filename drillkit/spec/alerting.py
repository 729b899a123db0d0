"""The environment's ``alerting:`` section: the rules Prometheus evaluates, where its alerts go,
and where drillkit's own receiver listens.

On the embedded platform the section starts Alertmanager (the Debian package) and drillkit's
webhook receiver; the embedded Prometheus loads the reference rules and ``rule_files`` and
sends its alerts to that Alertmanager, which routes every alert to the receiver. With an
external Prometheus (``prometheus.url``) drillkit only reads alert state: your Prometheus
evaluates your rules, ``alertmanager.url`` names the Alertmanager it sends to, and
``receiver.listen`` is where drillkit listens for the webhook you route to it.

Paths are relative to the working directory, as ``workload.repository`` is.

>>> AlertingSpec().alertmanager.group_wait_s
1.0
"""

from __future__ import annotations

from pydantic import Field, model_validator

from drillkit.spec.loader import Spec
from drillkit.spec.safe import MAX_SECONDS, SafePath, SafeText

_URL = r"^https?://[^@/\s]+(/\S*)?$"


class AlertmanagerSpec(Spec):
    """The embedded Alertmanager's timing, or an external one by URL."""

    url: SafeText | None = Field(None, pattern=_URL,
                                 description="an external Alertmanager (http[s]://host:port, no credentials); empty: the embedded one")  # fmt: skip
    # Alertmanager batches: a new group waits group_wait, later changes group_interval. Production
    # values (30 s, 5 m) would be most of what a drill measures as time-to-notify; the embedded
    # one is drillkit's, so it notifies at once and the times measured are Prometheus' and the rules'.
    group_wait_s: float = Field(1.0, ge=0, le=MAX_SECONDS, description="embedded: wait before the first notification of a group, seconds")
    group_interval_s: float = Field(1.0, gt=0, le=MAX_SECONDS, description="embedded: wait before notifying a group's changes, seconds")
    repeat_interval_s: float = Field(3600.0, gt=0, le=MAX_SECONDS, description="embedded: re-notify a still-firing alert after, seconds")


class ReceiverSpec(Spec):
    """drillkit's webhook receiver: every notification recorded with the time it arrived."""

    listen: SafeText | None = Field(None, pattern=r"^[A-Za-z0-9.:\[\]-]{1,253}:[0-9]{1,5}$",
                                    description="host:port to listen on (embedded: empty picks a free loopback port; "
                                                "an external Alertmanager must reach it)")  # fmt: skip


class AlertingSpec(Spec):
    """Alert rules, Alertmanager and drillkit's receiver (see the module docstring)."""

    reference_rules: bool = Field(True, description="load drillkit's reference rules for the recommender (drillkit/alerting/rules/)")
    rule_files: tuple[SafePath, ...] = Field((), max_length=64, description="your Prometheus rule files, checked with promtool at validate")
    rule_tests: tuple[SafePath, ...] = Field((), max_length=64, description="promtool unit-test files for them, run at validate")
    evaluation_interval_s: float = Field(1.0, gt=0, le=300, description="embedded Prometheus: how often rules are evaluated, seconds")
    poll_interval_s: float = Field(0.5, gt=0, le=60, description="how often a drill reads the alerts' state, seconds")
    alertmanager: AlertmanagerSpec = AlertmanagerSpec()
    receiver: ReceiverSpec = ReceiverSpec()

    @model_validator(mode="after")
    def _group_timing(self) -> AlertingSpec:
        if self.alertmanager.group_interval_s > self.alertmanager.repeat_interval_s:
            raise ValueError("alertmanager.group_interval_s is above repeat_interval_s: Alertmanager refuses that config")
        return self
