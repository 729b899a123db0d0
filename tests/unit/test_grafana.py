"""Grafana: the committed dashboard is what the builder makes and what the SDK's own model reads;
drills' annotations are a pure function of the journal, and posting them to a fake Grafana sends
the bearer token and the JSON bodies, while a down or refusing Grafana never raises.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_models
from grafana_foundation_sdk.models import prometheus as prometheus_models
from pydantic import ValidationError

from drillkit.errors import SpecError
from drillkit.grafana.annotations import Annotation, annotations_of, check_grafana, post_annotations
from drillkit.grafana.dashboard import build_dashboard, dashboard_json
from drillkit.journal import Journal, read_journal
from drillkit.spec.grafana import GrafanaSpec
from tests.fakes.http import serve
from tests.fakes.runs import T0, make_run

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "grafana" / "drillkit-dashboard.json"
TOKEN = "glsa_test-token-0123456789abcdef"  # a made-up service-account token
ENV = {"GRAFANA_TOKEN": TOKEN}


# --- the dashboard ---------------------------------------------------------------------------


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_the_committed_dashboard_is_what_the_builder_makes() -> None:
    assert COMMITTED.read_text() == dashboard_json(), (
        "grafana/drillkit-dashboard.json is stale: run "
        "`python -m drillkit.grafana.dashboard > grafana/drillkit-dashboard.json` and commit it"
    )


def test_running_the_module_prints_the_dashboard() -> None:
    done = subprocess.run([sys.executable, "-m", "drillkit.grafana.dashboard"], capture_output=True, text=True,
                          timeout=120, check=True, cwd=REPO)  # fmt: skip
    assert done.stdout == dashboard_json()


def test_the_committed_dashboard_loads_with_the_sdk_model_and_round_trips() -> None:
    plugins.register_default_plugins()  # so targets decode as Prometheus queries, not unknown bags
    data = json.loads(COMMITTED.read_text())
    model = dashboard_models.Dashboard.from_json(data)
    assert model.uid == "drillkit" and model.title == "drillkit: recommender drills"
    assert json.loads(json.dumps(model, cls=JSONEncoder, sort_keys=True)) == data  # nothing lost or invented
    panels = [p for p in model.panels or [] if isinstance(p, dashboard_models.Panel)]
    assert len(panels) >= 15
    for panel in panels:
        assert panel.title, panel
        assert panel.datasource is not None and panel.datasource.uid == "${datasource}", panel.title
        assert panel.targets, panel.title
        for target in panel.targets:
            assert isinstance(target, prometheus_models.Dataquery), panel.title
            assert target.expr.strip(), panel.title
            assert target.datasource is not None and target.datasource["uid"] == "${datasource}", panel.title  # type: ignore[index]
            # a rate over a fixed window would be empty when zoomed out, or too coarse when zoomed in
            assert "rate(" not in target.expr or "[$__rate_interval]" in target.expr, target.expr


def test_the_dashboard_has_the_variables_the_annotations_and_the_real_metrics() -> None:
    board = build_dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["region"]["query"] == 'label_values(up{job="triton"}, region)'
    assert variables["region"]["datasource"]["uid"] == "${datasource}"
    [drills] = board["annotations"]["list"]
    assert drills["datasource"]["type"] == "grafana" and drills["target"] == {
        "limit": 100, "matchAny": False, "tags": ["drillkit"], "type": "tags"}  # fmt: skip
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Users (load generator)", "Gateway (HAProxy)", "Triton nodes", "Alerts"]
    exprs = {t["expr"] for p in _panels(board) for t in p["targets"]}
    for expected in (
        "sum by (outcome) (rate(drillkit_client_requests_total[$__rate_interval]))",
        '(sum(rate(drillkit_client_requests_total{outcome="error"}[$__rate_interval])) or vector(0)) '
        "/ sum(rate(drillkit_client_requests_total[$__rate_interval]))",
        "histogram_quantile(0.99, sum by (le) (rate(drillkit_client_request_seconds_bucket[$__rate_interval])))",
        'sum by (region) (rate(drillkit_client_request_seconds_count{outcome="ok"}[$__rate_interval]))',
        'haproxy_server_status{proxy="triton",state="UP"}',
        'sum(rate(haproxy_frontend_http_responses_total{proxy="gateway",code="5xx"}[$__rate_interval]))',
        'sum(rate(haproxy_backend_retry_warnings_total{proxy="triton"}[$__rate_interval]))',
        'sum(rate(haproxy_backend_redispatch_warnings_total{proxy="triton"}[$__rate_interval]))',
        'haproxy_backend_current_queue{proxy="triton"}',
        'sum by (region) (up{job="triton", region=~"$region"})',
        'sum by (node) (rate(nv_inference_request_success{region=~"$region"}[$__rate_interval]))',
        "DCGM_FI_DEV_XID_ERRORS",
        'sum by (alertname) (ALERTS{alertstate="firing"})',
    ):  # fmt: skip
        assert expected in exprs, expected
    # every Triton-exported series follows the region picker
    assert all('region=~"$region"' in e for e in exprs if re.search(r"\bnv_", e))
    units = {p["title"]: p["fieldConfig"]["defaults"].get("unit") for p in _panels(board)}
    assert units["Error ratio"] == "percentunit" and units["Latency p50 / p99"] == "s"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


# --- annotations of a journal ----------------------------------------------------------------


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    """A region outage at T0+20 s, rolled back at T0+40 s, journal written at T0+61 s (PASS)."""
    return read_journal(make_run(tmp_path_factory.mktemp("run") / "r1") / "journal.json")


def ms(unix_s: float) -> int:
    return round(unix_s * 1000)


def test_a_journal_gives_the_fault_window_the_rollback_and_the_verdict(journal: Journal) -> None:
    assert journal.measurements is not None
    fault, rollback, verdict = annotations_of(journal)
    tags = ("drillkit", "drill:region-outage", "verdict:PASS")
    assert fault == Annotation(ms(T0 + 20), "fault injected: region_outage on primary-0, primary-1 (region primary)",
                               tags, time_end_ms=ms(T0 + 40))  # fmt: skip
    assert rollback == Annotation(ms(T0 + 40), "rolled back", tags)
    assert verdict == Annotation(ms(T0 + 61), f"verdict PASS: region-outage, RTO 2.00 s, failed {journal.measurements.failed_requests}", tags)
    assert fault.body("drillkit") == {"dashboardUID": "drillkit", "time": 1_780_000_020_000, "timeEnd": 1_780_000_040_000,
                                      "tags": list(tags), "text": fault.text}  # fmt: skip
    assert "dashboardUID" not in verdict.body(None) and "timeEnd" not in verdict.body(None)
    assert annotations_of(journal) == annotations_of(journal)  # pure: same journal, same annotations


def test_annotations_follow_the_spec_tags_and_the_verdict(tmp_path: Path, journal: Journal) -> None:
    spec = GrafanaSpec(url="https://grafana.example.com", token_env="GRAFANA_TOKEN", tags=("drillkit", "team-recs"))
    assert {a.tags for a in annotations_of(journal, tags=spec.tags)} == {("drillkit", "team-recs", "drill:region-outage", "verdict:PASS")}
    failed = read_journal(make_run(tmp_path / "r2", rto_s=None) / "journal.json")
    *_, verdict = annotations_of(failed)
    assert verdict.tags[-1] == "verdict:FAIL" and verdict.text.startswith("verdict FAIL: region-outage, RTO never, failed ")


def test_no_rollback_is_a_point_fault_and_no_measurements_is_said(journal: Journal) -> None:
    unfinished = journal.model_copy(update={"rollback_end": None, "measurements": None})
    fault, verdict = annotations_of(unfinished)
    assert fault.time_ms == ms(T0 + 20) and fault.time_end_ms is None
    assert verdict.text.endswith("region-outage, no measurements")
    nothing_injected = journal.model_copy(update={"fault_start": None, "rollback_end": None})
    assert [a.text.split(":")[0] for a in annotations_of(nothing_injected)] == ["verdict PASS"]


# --- posting to a fake Grafana ---------------------------------------------------------------


@dataclass
class FakeGrafana:
    """What the fake saw, and how it answers: ``status`` 200 (an id each), 401, 500 or 302."""

    url: str = ""
    status: int = 200
    delay_s: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                fake.seen.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                  "body": json.loads(self.rfile.read(length))})  # fmt: skip
                time.sleep(fake.delay_s)
                if fake.status == 302:
                    self._answer(302, {"message": "moved"}, location=f"{fake.url}/stolen")
                elif fake.status == 401:
                    self._answer(401, {"message": "Invalid API key"})
                elif fake.status != 200:
                    self._answer(fake.status, {"message": "Failed to save annotation"})
                else:
                    self._answer(200, {"id": len(fake.seen), "message": "Annotation added"})

            def do_GET(self) -> None:  # noqa: N802  (a followed redirect would arrive here)
                fake.seen.append({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": None})
                self._answer(200, {})

            def _answer(self, status: int, body: dict[str, Any], location: str | None = None) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if location:
                        self.send_header("Location", location)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # a client that timed out has gone
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet test output)
                pass

        return Handler


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib sends even a loopback request through an HTTP proxy named in the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    with serve(fake.handler()) as url:
        fake.url = url
        yield fake


def spec_for(url: str, **fields: Any) -> GrafanaSpec:
    return GrafanaSpec(url=url, token_env="GRAFANA_TOKEN", **fields)


def test_posting_sends_the_bearer_token_and_the_json_bodies(grafana: FakeGrafana, journal: Journal,
                                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    notes = annotations_of(journal)
    with caplog.at_level(logging.DEBUG):
        results = post_annotations(spec_for(grafana.url), notes, environ=ENV)
    assert [(r.ok, r.status, r.error, r.id) for r in results] == [(True, 200, None, 1), (True, 200, None, 2), (True, 200, None, 3)]
    assert [s["path"] for s in grafana.seen] == ["/api/annotations"] * 3
    assert [s["body"] for s in grafana.seen] == [n.body("drillkit") for n in notes]
    for seen in grafana.seen:
        assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert seen["headers"]["Content-Type"] == "application/json"
    assert TOKEN not in caplog.text and TOKEN not in repr(results)


def test_organization_annotations_carry_no_dashboard(grafana: FakeGrafana, journal: Journal) -> None:
    [result] = post_annotations(spec_for(grafana.url + "/", dashboard_uid=None), annotations_of(journal)[:1], environ=ENV)
    assert result.ok and grafana.seen[0]["path"] == "/api/annotations"  # the trailing slash did not double
    assert "dashboardUID" not in grafana.seen[0]["body"]


@pytest.mark.parametrize(("status", "message"), [(500, "Failed to save annotation"), (401, "Invalid API key")])
def test_a_refusing_grafana_is_a_result_not_an_exception(grafana: FakeGrafana, journal: Journal, status: int, message: str) -> None:
    grafana.status = status
    results = post_annotations(spec_for(grafana.url), annotations_of(journal), environ=ENV)
    assert len(grafana.seen) == 3  # an answer means the server is up: each annotation is tried
    assert [(r.ok, r.status) for r in results] == [(False, status)] * 3
    assert all(f"answered {status}: {message}" in (r.error or "") and TOKEN not in (r.error or "") for r in results)


def test_a_redirect_is_not_followed_so_the_token_stays(grafana: FakeGrafana, journal: Journal) -> None:
    grafana.status = 302
    [result] = post_annotations(spec_for(grafana.url), annotations_of(journal)[:1], environ=ENV)
    assert (result.ok, result.status) == (False, 302) and "not followed" in (result.error or "")
    assert [s["method"] for s in grafana.seen] == ["POST"]  # nothing went to /stolen


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on leaving: nothing listens there


def test_a_down_grafana_is_a_result_and_the_rest_are_not_tried(journal: Journal) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    first, *rest = post_annotations(spec_for(url), annotations_of(journal), environ=ENV)
    assert (first.ok, first.status) == (False, None)
    assert first.error is not None and f"Grafana at {url} gave no answer: ConnectionRefusedError" in first.error
    assert [(r.ok, r.status, r.error) for r in rest] == [(False, None, f"not sent: {first.error}")] * 2


def test_a_hung_grafana_costs_one_timeout(grafana: FakeGrafana, journal: Journal) -> None:
    grafana.delay_s = 2.0
    began = time.monotonic()
    results = post_annotations(spec_for(grafana.url, timeout_s=0.3), annotations_of(journal), environ=ENV)
    assert time.monotonic() - began < 1.5
    assert [(r.ok, r.status) for r in results] == [(False, None)] * 3
    assert "TimeoutError" in (results[0].error or "") and len(grafana.seen) == 1


@pytest.mark.parametrize("environ", [{}, {"GRAFANA_TOKEN": ""}])
def test_an_unset_token_variable_is_a_spec_error_naming_it(grafana: FakeGrafana, environ: dict[str, str]) -> None:
    with pytest.raises(SpecError) as caught:
        post_annotations(spec_for(grafana.url), [Annotation(1, "x", ("drillkit",))], environ=environ)
    assert (caught.value.file, caught.value.field) == ("environment", "grafana.token_env")
    assert "GRAFANA_TOKEN is not set" in caught.value.problem and "export GRAFANA_TOKEN" in caught.value.fix
    assert grafana.seen == []


def test_the_token_goes_in_clear_only_to_loopback_or_when_allowed() -> None:
    remote = spec_for("http://grafana.example.com:3000")
    with pytest.raises(SpecError) as caught:
        post_annotations(remote, [Annotation(1, "x", ("drillkit",))], environ=ENV)
    assert caught.value.field == "grafana.credentials_over_http" and TOKEN not in str(caught.value)
    check_grafana(spec_for("http://grafana.example.com:3000", credentials_over_http=True), environ=ENV)
    for url in ("https://grafana.example.com", "http://localhost:3000", "http://127.0.0.2:3000", "http://[::1]:3000"):
        check_grafana(spec_for(url), environ=ENV)


def test_tls_settings_are_checked_before_anything_is_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(SpecError) as caught:
        check_grafana(spec_for("https://grafana.example.com", ca_file=tmp_path / "missing.pem"), environ=ENV)
    assert caught.value.field == "grafana.ca_file"
    with caplog.at_level(logging.WARNING):
        check_grafana(spec_for("https://grafana.example.com", verify_tls=False), environ=ENV)
    assert "grafana.verify_tls: false" in caplog.text


# --- the spec --------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"url": "https://admin:secret@grafana.example.com"},  # credentials belong in the environment
    {"url": "ftp://grafana.example.com"},
    {"url": "https://grafana.example.com\n"},
    {"token_env": "GRAFANA TOKEN"},
    {"dashboard_uid": "no spaces"},
    {"tags": ("drillkit", "drillkit")},
    {"tags": ("has space",)},
    {"timeout_s": 0},
    {"password": "x"},  # unknown fields are errors
])  # fmt: skip
def test_the_spec_refuses_bad_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GrafanaSpec(**{"url": "https://grafana.example.com", "token_env": "GRAFANA_TOKEN", **fields})


def test_the_spec_defaults() -> None:
    spec = GrafanaSpec(url="https://grafana.example.com/grafana/", token_env="GRAFANA_TOKEN")
    assert spec.url == "https://grafana.example.com/grafana"
    assert (spec.dashboard_uid, spec.tags, spec.verify_tls, spec.ca_file, spec.timeout_s, spec.credentials_over_http) == (
        "drillkit", ("drillkit",), True, None, 5.0, False)  # fmt: skip
