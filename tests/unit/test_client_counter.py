"""The load generator's request counter: label sets exist at zero before the first request."""

from prometheus_client import CollectorRegistry, generate_latest

from drillkit.client_metrics import ClientCounter


def test_initial_label_sets_are_exported_at_zero_so_rate_sees_the_first_error() -> None:
    registry = CollectorRegistry()
    counter = ClientCounter("drillkit_client_requests_total", "demo", ("kind", "outcome"),
                            initial=[("search", "ok"), ("search", "error")])  # fmt: skip
    registry.register(counter)
    before = generate_latest(registry).decode()
    assert 'drillkit_client_requests_total{kind="search",outcome="error"} 0.0' in before
    counter.inc(("search", "error"))
    counter.inc(("recommend", "ok"), 2)
    after = generate_latest(registry).decode()
    assert 'drillkit_client_requests_total{kind="search",outcome="error"} 1.0' in after
    assert 'drillkit_client_requests_total{kind="recommend",outcome="ok"} 2.0' in after
    assert "# TYPE drillkit_client_requests_total counter" in after
