"""Queries through prometheus-api-client against a fake Prometheus HTTP API: auth, retries,
errors that name the URL, and secrets that never reach an error or a journal."""

from __future__ import annotations

import base64
import json

import pytest

from drillkit.errors import SpecError
from drillkit.observe.client import PromClient, PrometheusError
from drillkit.observe.evidence import collect
from drillkit.observe.promql import slo_query
from drillkit.spec import DrillSpec, PrometheusSpec
from tests.fakes.prometheus import matrix, serve_prometheus, vector

TOKEN = "s3cr3t-t0ken-value"


def drill(**extra: object) -> DrillSpec:
    return DrillSpec.model_validate({
        "name": "d", "environment": "e.yaml", "experiment": "x.json", "load": {"trace": "t.csv"},
        "recovery": {"rto_budget_s": 5},
        "slos": [{"name": "errors", "kind": "error_ratio", "max_ratio": 0.01, "window_s": 2},
                 {"name": "gpu", "kind": "gpu_utilization", "max_ratio": 0.9, "window_s": 2}], **extra,
    })  # fmt: skip


def test_a_bearer_token_from_the_environment_is_sent_and_never_stored() -> None:
    spec = PrometheusSpec(url="https://prom.example:9090", bearer_token_env="PROM_TOKEN")
    with serve_prometheus() as prom:
        prom.require_auth = f"Bearer {TOKEN}"
        prom.results[slo_query(drill().slos[0])] = [matrix([(100.0, 0.0), (101.0, 0.02)])]
        client = PromClient.from_spec(spec, url=prom.url, environ={"PROM_TOKEN": TOKEN})
        evidence = collect(client, drill(), start=98.0, end=102.0, series_window_s=2.0)
    assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in prom.seen)
    assert evidence["slos"]["errors"]["series"][0]["points"] == [[100.0, 0.0], [101.0, 0.02]]
    assert TOKEN not in json.dumps(evidence) and TOKEN not in repr(client.__dict__)
    assert client.auth == "bearer"


def test_basic_auth_is_sent_from_two_variables() -> None:
    spec = PrometheusSpec(url="http://p:9090", basic_auth_user_env="PU", basic_auth_password_env="PP")
    with serve_prometheus() as prom:
        prom.require_auth = "Basic " + base64.b64encode(b"sre:pa55").decode()
        prom.results["sum(up)"] = [vector(3)]
        client = PromClient.from_spec(spec, url=prom.url, environ={"PU": "sre", "PP": "pa55"})
        assert client.instant("sum(up)")[0].points[0][1] == 3.0


def test_a_missing_credential_variable_fails_loudly_naming_it() -> None:
    spec = PrometheusSpec(url="http://p:9090", bearer_token_env="PROM_TOKEN")
    with pytest.raises(SpecError, match="PROM_TOKEN is not set"):
        PromClient.from_spec(spec, url="http://p:9090", environ={})


def test_a_refused_credential_is_an_error_without_the_secret() -> None:
    with serve_prometheus() as prom:
        prom.require_auth = "Bearer right"
        client = PromClient.from_spec(PrometheusSpec(bearer_token_env="T"), url=prom.url, environ={"T": TOKEN})
        with pytest.raises(PrometheusError) as caught:
            client.instant("sum(up)")
    assert prom.url in str(caught.value) and TOKEN not in str(caught.value)


def test_5xx_answers_are_retried() -> None:
    with serve_prometheus() as prom:
        prom.results["sum(up)"] = [vector(1)]
        prom.fail_next = 2
        client = PromClient(prom.url, retries=3)
        assert client.instant("sum(up)")[0].points[0][1] == 1.0
    assert len(prom.seen) == 3


def test_retries_run_out_into_an_error_naming_the_url() -> None:
    with serve_prometheus() as prom:
        prom.fail_next = 10
        client = PromClient(prom.url, retries=2)
        with pytest.raises(PrometheusError, match=f"Prometheus at {prom.url}"):
            client.instant("sum(up)")
    assert len(prom.seen) == 3  # the first try and two retries


def test_an_unreachable_server_is_an_error_naming_the_url() -> None:
    client = PromClient("http://127.0.0.1:9", retries=0, timeout_s=1)
    with pytest.raises(PrometheusError, match="127.0.0.1:9 is unreachable"):
        client.instant("sum(up)")


def test_range_data_arrives_as_floats_and_nan_is_dropped() -> None:
    with serve_prometheus() as prom:
        prom.results["x"] = [matrix([(10.0, 1.5), (11.0, float("nan")), (12.0, 2.0)], region="primary")]
        client = PromClient(prom.url)
        series = client.range("x", 10.0, 12.0)
        frame = client.frame("x", 10.0, 12.0)
    assert series[0].labels == {"region": "primary"} and series[0].points == ((10.0, 1.5), (12.0, 2.0))
    assert list(frame.columns) == ["region", "time", "value"] and frame["value"].tolist() == [1.5, 2.0]
    assert prom.seen[0]["params"] == {"query": "x", "start": "10", "end": "12", "step": "1s"}


def test_evidence_records_a_failed_query_as_its_error_and_empty_results_as_empty() -> None:
    with serve_prometheus() as prom:
        evidence = collect(PromClient(prom.url), drill(), start=0.0, end=10.0, series_window_s=2.0)
        prom.fail_next, prom.fail_status = 100, 500
        broken = collect(PromClient(prom.url, retries=0), drill(), start=0.0, end=10.0, series_window_s=2.0)
    assert evidence["slos"]["gpu"] == {"query": "max(nv_gpu_utilization)", "series": []}
    assert "error_ratio" in evidence["series"] and evidence["series"]["error_ratio"]["series"] == []
    assert "refused the query" in broken["slos"]["errors"]["error"] or "unreachable" in broken["slos"]["errors"]["error"]
    first = next(r for r in prom.seen if r["params"].get("query") == evidence["slos"]["errors"]["query"])
    assert first["params"]["start"] == "2"  # an SLO is judged once its first rate window is full
