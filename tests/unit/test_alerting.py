"""Alerting verified, at its seams: the webhook receiver over real HTTP, the watcher against a fake
Prometheus and a fake Alertmanager, the section and checks from timelines, promtool on the
reference rules and on broken ones, and the embedded Alertmanager's config through amtool."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from drillkit.alerting import rules
from drillkit.alerting.alertmanager import render_config
from drillkit.alerting.receiver import Receiver, read_notifications
from drillkit.alerting.section import alerting_section
from drillkit.alerting.watch import AlertWatcher, unsettled_until
from drillkit.errors import SpecError
from drillkit.events import AlertNotified, AlertSource, AlertState, RollbackStarted, read_events
from drillkit.observe.client import PromClient
from drillkit.observe.embedded import NodeTarget, ScrapePlan
from drillkit.observe.embedded import render_config as prometheus_config
from drillkit.spec import DrillSpec
from drillkit.spec.alerting import AlertmanagerSpec
from drillkit.verdict import Verdict, alert_checks
from tests.fakes.http import serve
from tests.fakes.prometheus import serve_prometheus

DOWN = {"alertname": "RecommenderRegionDown", "region": "primary", "role": "primary", "severity": "critical"}
T0 = 1_000.0  # the fault's start
ROLLBACK = T0 + 20


def payload(status: str, *alerts: dict[str, str], alert_status: str | None = None) -> bytes:
    return json.dumps({"version": "4", "status": status, "receiver": "drillkit", "groupKey": "{}:{}",
                       "alerts": [{"status": alert_status or status, "labels": a, "annotations": {"summary": "x" * 50},
                                   "startsAt": "2026-12-07T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                                   "fingerprint": "abc"} for a in alerts]}).encode()  # fmt: skip


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return -1  # the server answered before reading the whole body, and closed


def drill(*alerts: dict[str, Any]) -> DrillSpec:
    return DrillSpec.model_validate({"name": "d", "environment": "e.yaml", "experiment": "x.json", "load": {"trace": "t.csv"},
                                     "recovery": {"rto_budget_s": 5}, "alerts": list(alerts)})  # fmt: skip


def test_the_receiver_records_each_notification_with_its_arrival_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    out = tmp_path / "n.jsonl"
    receiver = Receiver(("127.0.0.1", 0), out).start()
    try:
        assert post(receiver.url, payload("firing", DOWN)) == 200
        assert post(receiver.url, b"{not json") == 400
        assert post(receiver.url, json.dumps({"status": "firing"}).encode()) == 400  # no alerts
        assert post(receiver.url, b"x" * (2 << 20)) in (413, -1)
        assert post(receiver.url.replace("/alerts", "/other"), payload("firing", DOWN)) == 404
        assert post(receiver.url, payload("resolved", DOWN)) == 200
    finally:
        receiver.stop()
    notes, bad, offset = read_notifications(out, since=0.0)
    assert [(n.status, n.alerts[0].name, n.alerts[0].labels["region"]) for n in notes] == [("firing", "RecommenderRegionDown", "primary"),
                                                                                             ("resolved", "RecommenderRegionDown", "primary")]  # fmt: skip
    assert notes[0].received_at <= notes[1].received_at and not bad and offset == out.stat().st_size
    assert "summary" not in out.read_text()  # annotations are never kept
    # read on from the offset: nothing new; a damaged line in the middle is named, never a traceback
    assert read_notifications(out, since=0.0, offset=offset)[0] == []
    with open(out, "a") as f:
        f.write('{"received_at": "soon"}\n' + out.read_text().splitlines()[0] + "\n" + '{"torn')
    notes, bad, _ = read_notifications(out, since=0.0, offset=offset)
    assert len(notes) == 1 and len(bad) == 1 and "not a recorded notification" in bad[0]


class _FakeAlertmanager(BaseHTTPRequestHandler):
    alerts: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(self.alerts).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_watcher_records_every_change_of_prometheus_alertmanager_and_the_receiver(tmp_path: Path) -> None:
    timeline, notes = tmp_path / "timeline.jsonl", tmp_path / "n.jsonl"
    notes.write_text(json.dumps({"received_at": 1.0, "status": "firing", "alerts": []}) + "\n")  # before the drill: skipped
    clock = iter(float(t) for t in range(100, 200))
    receiver = Receiver(("127.0.0.1", 0), notes).start()
    with serve_prometheus() as prom, serve(_FakeAlertmanager) as am:
        prom.alerts = [{"labels": {"alertname": "Watchdog"}, "state": "firing", "activeAt": "x"}]
        watch = AlertWatcher(timeline, prom=PromClient(prom.url, retries=0), alertmanager_url=am, notifications=notes,
                             since=50.0, clock=lambda: next(clock))  # fmt: skip
        watch.tick()
        prom.alerts.append({"labels": DOWN, "state": "pending"})
        watch.tick()
        prom.alerts[1] = {"labels": DOWN, "state": "firing"}
        _FakeAlertmanager.alerts = [{"labels": DOWN, "status": {"state": "active"}}, {"labels": {"alertname": "Other"}, "status": "junk"}]
        assert post(receiver.url, payload("firing", DOWN)) == 200
        watch.tick()
        prom.alerts.pop()
        watch.tick()
        prom.fail_next, prom.fail_status = 10, 500
        watch.tick()
    receiver.stop()
    events = read_events(timeline)
    states = [(e.source, e.alert, e.state, e.first_poll) for e in events if isinstance(e, AlertState)]
    assert states == [("prometheus", "Watchdog", "firing", True), ("prometheus", "RecommenderRegionDown", "pending", False),
                      ("prometheus", "RecommenderRegionDown", "firing", False), ("alertmanager", "RecommenderRegionDown", "active", False),
                      ("prometheus", "RecommenderRegionDown", "inactive", False)]  # fmt: skip
    assert [(e.alert, e.status) for e in events if isinstance(e, AlertNotified)] == [("RecommenderRegionDown", "firing")]
    assert [(e.source, e.reachable) for e in events if isinstance(e, AlertSource)] == [("prometheus", True), ("alertmanager", True),
                                                                                       ("prometheus", False)]  # fmt: skip


def timeline(*events: Any) -> list[Any]:
    """A drill's alert events: Prometheus read from the start, the rollback begun at ``ROLLBACK``."""
    return sorted([AlertSource(at=T0 - 30, source="prometheus", reachable=True), RollbackStarted(at=ROLLBACK), *events], key=lambda e: e.at)


def state(at: float, state: str, labels: dict[str, str] = DOWN, first: bool = False) -> AlertState:
    return AlertState(at=at, source="prometheus", alert=labels["alertname"], labels=labels, state=state, first_poll=first)  # type: ignore[arg-type]


def note(at: float, status: str, labels: dict[str, str] = DOWN) -> AlertNotified:
    return AlertNotified(at=at, status=status, alert=labels["alertname"], labels=labels)  # type: ignore[arg-type]


def test_a_region_down_alert_is_timed_from_the_fault_and_its_checks_pass_or_fail_on_the_budgets() -> None:
    events = timeline(state(T0 + 1, "pending"), state(T0 + 6.5, "firing"), note(T0 + 7.2, "firing"),
                      state(ROLLBACK + 2, "inactive"), note(ROLLBACK + 3.5, "resolved"))  # fmt: skip
    section = alerting_section(events, fault_start=T0, receiver=True)
    assert section is not None
    (ep,) = section.episodes
    assert (ep.time_to_fire_s, ep.time_to_notify_s, ep.time_to_resolve_s) == (6.5, pytest.approx(7.2), 3.5) and not ep.false_alarm
    spec = drill({"alert": "RecommenderRegionDown", "labels": {"region": "primary"}, "must_fire_within_s": 30,
                  "must_notify_within_s": 40, "must_resolve_within_s": 120},
                 {"alert": "RecommenderRegionDown", "labels": {"region": "standby"}, "must_fire_within_s": 30},
                 {"alert": "RecommenderGPUDeviceLost", "must_fire_within_s": 30},
                 {"alert": "RecommenderErrorBudgetBurn", "must_not_fire": True})  # fmt: skip
    checks = {c.name: c for c in alert_checks(spec, section, fault_start=T0)}
    assert checks["alert:RecommenderRegionDown{region=primary}"].verdict is Verdict.PASS
    assert "fired 6.5 s from the fault" in checks["alert:RecommenderRegionDown{region=primary}"].detail
    assert checks["alert:RecommenderRegionDown{region=standby}"].verdict is Verdict.FAIL  # the labels tell the regions apart
    assert checks["alert:RecommenderGPUDeviceLost"].verdict is Verdict.FAIL and "never fired" in checks["alert:RecommenderGPUDeviceLost"].detail
    assert checks["alert:RecommenderErrorBudgetBurn"].verdict is Verdict.PASS
    healed = alerting_section(timeline(state(T0 + 6.5, "firing"), note(T0 + 7, "firing"), note(ROLLBACK - 4, "resolved")),
                              fault_start=T0, receiver=True)  # fmt: skip
    (check,) = alert_checks(drill({"alert": "RecommenderRegionDown", "must_resolve_within_s": 60}), healed, fault_start=T0)
    assert healed is not None and healed.episodes[0].time_to_resolve_s == -4.0 and check.verdict is Verdict.PASS
    tight = drill({"alert": "RecommenderRegionDown", "must_fire_within_s": 5, "must_resolve_within_s": 3})
    (check,) = alert_checks(tight, section, fault_start=T0)
    assert check.verdict is Verdict.FAIL and "fired 6.5 s from the fault (budget 5 s)" in check.detail


def test_an_alert_that_fires_in_warm_up_is_a_false_alarm_that_must_not_fire_catches() -> None:
    noisy = {"alertname": "Noisy", "severity": "warning"}
    watchdog = {"alertname": "Watchdog"}
    events = timeline(state(T0 - 30, "firing", watchdog, first=True), state(T0 - 12, "firing", noisy), note(T0 - 11, "firing", noisy))
    section = alerting_section(events, fault_start=T0, receiver=True)
    assert section is not None and [e.alert for e in section.false_alarms] == ["Noisy"]  # a standing Watchdog is not this drill's alarm
    spec = drill({"alert": "Noisy", "must_not_fire": True}, {"alert": "Noisy", "labels": {"severity": "warning"}, "must_fire_within_s": 60})
    checks = alert_checks(spec, section, fault_start=T0)
    assert [c.verdict for c in checks] == [Verdict.FAIL, Verdict.FAIL]
    assert "12.0 s before the fault" in checks[0].detail and "already firing" in checks[1].detail
    # no fault at all: whatever fires is a false alarm, and a timed demand has nothing to be timed from
    section = alerting_section(events, fault_start=None)
    assert section is not None and {e.alert for e in section.false_alarms} == {"Noisy"}
    assert alert_checks(drill({"alert": "Noisy", "must_fire_within_s": 9}), section, fault_start=None)[0].verdict is Verdict.NO_DATA


def test_no_reachable_alerting_path_or_no_receiver_is_no_data_never_a_pass() -> None:
    spec = drill({"alert": "RecommenderRegionDown", "must_fire_within_s": 30, "must_notify_within_s": 30})
    unreachable = [AlertSource(at=T0 - 30, source="prometheus", reachable=False, error="Prometheus at x is unreachable")]
    section = alerting_section(unreachable, fault_start=T0)
    (check,) = alert_checks(spec, section, fault_start=T0)
    assert check.verdict is Verdict.NO_DATA and "unreachable" in check.detail
    assert alert_checks(spec, None, fault_start=T0)[0].verdict is Verdict.NO_DATA
    fired = alerting_section(timeline(state(T0 + 3, "firing")), fault_start=T0, receiver=False)
    (check,) = alert_checks(spec, fired, fault_start=T0)
    assert check.verdict is Verdict.NO_DATA and "no receiver" in check.detail


def test_a_notification_that_arrives_before_the_read_sees_the_alert_fire_still_belongs_to_it() -> None:
    events = timeline(note(T0 + 5.0, "firing"), state(T0 + 5.4, "firing"), note(ROLLBACK + 1, "resolved"))
    section = alerting_section(events, fault_start=T0, receiver=True)
    assert section is not None and len(section.episodes) == 1
    assert (section.episodes[0].time_to_notify_s, section.episodes[0].time_to_resolve_s) == (5.0, 1.0)


def test_the_drill_waits_only_for_demands_not_yet_met_and_only_until_their_budget() -> None:
    spec = drill({"alert": "RecommenderRegionDown", "must_fire_within_s": 30, "must_resolve_within_s": 60},
                 {"alert": "RecommenderErrorBudgetBurn", "must_not_fire": True})  # fmt: skip
    nothing = alerting_section(timeline(), fault_start=T0, receiver=True)
    assert unsettled_until(spec.alerts, nothing, fault_start=T0) == ROLLBACK + 60
    fired = alerting_section(timeline(state(T0 + 4, "firing")), fault_start=T0, receiver=True)
    assert unsettled_until(spec.alerts, fired, fault_start=T0) == ROLLBACK + 60  # not resolved yet
    done = alerting_section(timeline(state(T0 + 4, "firing"), note(T0 + 5, "firing"), note(ROLLBACK + 2, "resolved")),
                            fault_start=T0, receiver=True)  # fmt: skip
    assert unsettled_until(spec.alerts, done, fault_start=T0) is None


def test_the_reference_rules_pass_promtool_check_and_their_unit_tests() -> None:
    rules.check_rules([rules.REFERENCE_RULES])
    rules.test_rules([rules.REFERENCE_TESTS])
    assert rules.alert_names([rules.REFERENCE_RULES]) == {
        "RecommenderRegionDown", "RecommenderErrorBudgetBurn", "RecommenderLatencyBurn", "RecommenderGPUXidError",
        "RecommenderGPUDeviceLost", "RecommenderStandbyWithoutCapacity"}  # fmt: skip


def test_a_broken_rule_or_a_failing_rule_test_is_refused_naming_the_file_with_promtools_words(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(up\n")
    with pytest.raises(SpecError) as caught:
        rules.check_rules([bad])
    assert caught.value.file == str(bad) and caught.value.field == "alerting.rule_files" and "parse error" in caught.value.problem
    shutil.copy(rules.REFERENCE_RULES, tmp_path / "recommender.rules.yml")
    wrong = tmp_path / "wrong.test.yml"
    wrong.write_text(rules.REFERENCE_TESTS.read_text().replace("eval_time: 26s", "eval_time: 21s"))  # before its `for: 5s`
    with pytest.raises(SpecError) as caught:
        rules.test_rules([wrong])
    assert caught.value.field == "alerting.rule_tests" and "RecommenderRegionDown" in caught.value.problem
    with pytest.raises(SpecError, match="not a file"):
        rules.check_rules([tmp_path / "missing.yml"])


def test_the_embedded_alertmanager_config_passes_amtool_and_prometheus_sends_to_it(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_config("http://127.0.0.1:9099/alerts", AlertmanagerSpec(group_wait_s=0.5)))
    amtool = shutil.which("amtool")
    assert amtool is not None, "amtool comes with the Debian package prometheus-alertmanager: run `make setup`"
    checked = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    plan = ScrapePlan(interval_s=1.0, nodes=(NodeTarget("p-0", "p", 9102, "primary"),), gateway_stats_port=1, loadgen_dir=tmp_path,
                      rule_files=(rules.REFERENCE_RULES,), alertmanager_port=9093, evaluation_interval_s=0.5)  # fmt: skip
    prometheus = tmp_path / "prometheus.yml"
    prometheus.write_text(prometheus_config(plan))
    checked = subprocess.run(["promtool", "check", "config", str(prometheus)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "6 rules found" in checked.stdout, checked.stdout + checked.stderr
    assert "role: primary" in prometheus.read_text() and "127.0.0.1:9093" in prometheus.read_text()


def test_alerting_starts_only_beside_the_embedded_prometheus_and_its_demands_are_checked() -> None:
    from drillkit.spec import EnvironmentSpec

    regions = [{"name": "primary", "role": "primary"}, {"name": "standby", "role": "standby"}]
    # beside an external Prometheus drillkit starts nothing and loads nothing: it reads the alerts' state
    reading = EnvironmentSpec.model_validate({"name": "e", "regions": regions, "prometheus": {"url": "http://prom:9090"}, "alerting": {}})
    assert reading.alerting is not None and not reading.alerting_embedded
    assert EnvironmentSpec.model_validate({"name": "e", "regions": regions, "alerting": {}}).alerting_embedded
    external = EnvironmentSpec.model_validate({"name": "e", "regions": regions, "prometheus": {"url": "http://prom:9090"},
                                               "alerting": {"alertmanager": {"url": "http://am:9093"}, "receiver": {"listen": "0.0.0.0:9099"}}})  # fmt: skip
    assert external.alerting is not None and not external.alerting_embedded
    with pytest.raises(ValueError, match="must_not_fire cannot go"):
        drill({"alert": "A", "must_not_fire": True, "must_fire_within_s": 3})
    with pytest.raises(ValueError, match="each alert"):
        drill({"alert": "A", "must_not_fire": True}, {"alert": "A", "must_fire_within_s": 3})


def _section(false_alarm: bool = False) -> dict[str, Any]:
    from tests.fakes.runs import T0 as RUN_T0

    fault = RUN_T0 + 20
    down = {"alert": "RecommenderRegionDown", "labels": DOWN, "pending_at": fault + 1, "firing_at": fault + 6, "gone_at": fault + 24,
            "notified_at": fault + 7, "resolved_notified_at": fault + 25, "time_to_fire_s": 6.0, "time_to_notify_s": 7.0,
            "time_to_resolve_s": 5.0}  # fmt: skip
    noise = {"alert": "Noisy", "labels": {"alertname": "Noisy"}, "firing_at": fault - 9, "time_to_fire_s": -9.0, "false_alarm": True}
    return {"prometheus_reachable": True, "alertmanager_reachable": True, "receiver": True, "watched_from": RUN_T0,
            "watched_until": RUN_T0 + 60, "episodes": [down, *([noise] if false_alarm else [])], "notifications": 2}  # fmt: skip


def test_the_gate_bounds_the_slowest_page_and_the_false_alarms_and_the_report_shows_them(tmp_path: Path) -> None:
    from pypdf import PdfReader

    from drillkit.gate import gate
    from drillkit.report.pdf import render_report
    from drillkit.spec.policy import Policy
    from tests.fakes.runs import make_run

    strict = Policy.model_validate({"defaults": {"max_time_to_notify_s": 10, "max_false_alarms": 0}, "require_slos_pass": False})
    good = make_run(tmp_path / "good", sections={"alerting": _section()})
    result = gate(good, strict)
    assert result.passed and {"time_to_notify", "false_alarms"} <= {r.rule for r in result.reasons}
    noisy = make_run(tmp_path / "noisy", sections={"alerting": _section(false_alarm=True)})
    refused = {r.rule: r.detail for r in gate(noisy, strict).failures}
    assert refused == {"false_alarms": "false alarms 1 (over the budget 0)"}
    slow = gate(good, Policy.model_validate({"defaults": {"max_time_to_notify_s": 5}, "require_slos_pass": False}))
    assert [r.detail for r in slow.failures] == ["slowest page 7s (over the budget 5s)"]
    text = " ".join(page.extract_text() for page in PdfReader(render_report(noisy)).pages)
    assert "Alerting:" in text and "2 notification(s)" in text and "1 false alarm(s)" in text and "RecommenderRegionDown" in text and "false alarm" in text


def test_a_drill_that_demands_alerts_needs_alerting_and_a_rule_for_each(tmp_path: Path) -> None:
    from drillkit.plan import check_alerting
    from drillkit.spec import EnvironmentSpec

    regions = [{"name": "primary", "role": "primary"}, {"name": "standby", "role": "standby"}]
    bare = EnvironmentSpec.model_validate({"name": "e", "regions": regions})
    with pytest.raises(SpecError) as caught:
        check_alerting(drill({"alert": "RecommenderRegionDown", "must_fire_within_s": 30}), bare, file="d.yaml")
    assert (caught.value.file, caught.value.field) == ("d.yaml", "alerts")
    alerting = EnvironmentSpec.model_validate({"name": "e", "regions": regions, "alerting": {}})
    check_alerting(drill({"alert": "RecommenderRegionDown", "must_fire_within_s": 30}), alerting, file="d.yaml")
    with pytest.raises(SpecError) as caught:
        check_alerting(drill({"alert": "RecommenderRegionDwn", "must_fire_within_s": 30}), alerting, file="d.yaml")
    assert caught.value.field == "alerts[0].alert" and "RecommenderRegionDown" in caught.value.fix
    bad = tmp_path / "bad.rules.yml"
    bad.write_text("groups: [{name: g, rules: [{alert: A, expr: 'rate(up)'}]}]\n")  # a range function without a range
    broken = EnvironmentSpec.model_validate({"name": "e", "regions": regions, "alerting": {"rule_files": [str(bad)]}})
    with pytest.raises(SpecError) as caught:
        check_alerting(drill(), broken, file="d.yaml")
    assert caught.value.file == str(bad) and caught.value.field == "alerting.rule_files"
