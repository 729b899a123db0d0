"""SLO and guard specs -> PromQL: every kind builds a query Prometheus' own parser accepts."""

from __future__ import annotations

import shutil

import pytest
from pydantic import TypeAdapter, ValidationError

from drillkit.observe import promql
from drillkit.observe.validate import check_syntax
from drillkit.spec.slo import AbortGuard, Comparison, SloCheck

KINDS = [
    {"kind": "latency", "threshold_ms": 250, "quantile": 0.99, "request_kind": "search"},
    {"kind": "error_ratio", "max_ratio": 0.01},
    {"kind": "availability", "min_ratio": 0.99},
    {"kind": "traffic_share", "region": "standby", "max_share": 0.05},
    {"kind": "queue_time", "threshold_ms": 5, "region": "primary"},
    {"kind": "gpu_utilization", "max_ratio": 0.9},
    {"kind": "gpu_memory", "max_used_ratio": 0.95},
    {"kind": "backends_up", "min_up": 2, "region": "primary"},
    {"kind": "burn_rate", "objective": 0.999},
    {"kind": "promql", "query": "sum(up)", "comparison": ">=", "threshold": 3},
]
ADAPTER: TypeAdapter[SloCheck] = TypeAdapter(SloCheck)


def check(**fields: object) -> SloCheck:
    return ADAPTER.validate_python({"name": "c", "window_s": 10, **fields})


def test_latency_is_a_quantile_of_the_client_histogram_in_ms() -> None:
    q = promql.slo_query(check(kind="latency", threshold_ms=250, quantile=0.99, request_kind="search"))
    assert q == '1000 * histogram_quantile(0.99, sum by (le) (rate(drillkit_client_request_seconds_bucket{kind="search"}[10s])))'


def test_error_ratio_and_availability_use_the_counter_that_starts_at_zero() -> None:
    errors = promql.objective(check(kind="error_ratio", max_ratio=0.01))
    assert errors.query == ('(sum(rate(drillkit_client_requests_total{outcome="error"}[10s])) or vector(0))'
                            ' / sum(rate(drillkit_client_requests_total[10s]))')  # fmt: skip
    assert (errors.comparison, errors.threshold) == (Comparison.LE, 0.01)
    up = promql.objective(check(kind="availability", min_ratio=0.99))
    assert 'outcome="ok"' in up.query and (up.comparison, up.threshold) == (Comparison.GE, 0.99)


def test_region_scoped_kinds_select_the_region() -> None:
    assert 'region="standby"' in promql.slo_query(check(kind="traffic_share", region="standby", max_share=0.05))
    # the region's servers: its nodes locally, the region itself on Kubernetes
    assert 'server=~"primary(-[0-9]+)?"' in promql.slo_query(check(kind="backends_up", min_up=2, region="primary"))
    assert 'nv_inference_queue_duration_us{region="primary"}' in promql.slo_query(check(kind="queue_time", threshold_ms=5, region="primary"))


def test_burn_rate_fires_only_when_both_windows_of_a_pair_burn() -> None:
    slo = check(kind="burn_rate", objective=0.999, pairs=[{"long_s": 60, "short_s": 5, "factor": 14.4}])
    goal = promql.objective(slo)
    assert goal.query.startswith("min(") and "[60s]" in goal.query and "[5s]" in goal.query
    assert goal.query.endswith("/ 0.0144")  # factor x error budget
    assert (goal.comparison, goal.threshold) == (Comparison.LE, 1.0)
    detect = promql.objective(check(kind="burn_rate", objective=0.999, expect_fire=True))
    assert detect.comparison is Comparison.GT and detect.query.startswith("max(")  # two workbook pairs


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make setup installs the prometheus package)")
def test_every_kind_guard_and_journal_series_parses_with_promtool() -> None:
    queries = {f"slos[{i}]": promql.slo_query(check(**k)) for i, k in enumerate(KINDS)}
    for signal in ("error_ratio", "p99_ms", "backends_up"):
        guard = AbortGuard(name="g", source="prometheus", signal=signal, above=1)
        queries[f"abort {signal}"] = promql.guard_query(guard)
    queries |= {name: q for name, (q, _) in promql.journal_series(2.0).items()}
    check_syntax(queries, file="test.yaml")  # raises SpecError naming the field on any parse error


def test_invalid_specs_are_refused_with_the_field() -> None:
    with pytest.raises(ValidationError, match="exactly one of min_share and max_share"):
        check(kind="traffic_share", region="primary")
    with pytest.raises(ValidationError, match="short_s must be shorter"):
        check(kind="burn_rate", objective=0.99, pairs=[{"long_s": 5, "short_s": 60, "factor": 2}])
    with pytest.raises(ValidationError, match="loadgen guard watches"):
        AbortGuard(name="g", source="loadgen", signal="backends_up", below=1)
    with pytest.raises(ValidationError, match="query is required"):
        AbortGuard(name="g", source="prometheus", signal="promql", above=1)
