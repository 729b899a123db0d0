"""Client-side histograms of the load generator, exported to Prometheus.

prometheus_client's ``Histogram.observe`` takes a lock per sample; under Locust's gevent
patching that lock is a gevent lock and the cost shows at thousands of requests per second.
A Locust process is one OS thread, so these histograms count without locks and are exported
through a custom collector (the exposition format is the same).

>>> h = ClientHistogram("x_seconds", "demo", ("kind",), (0.1, 1.0))
>>> h.observe(("search",), 0.05); h.observe(("search",), 5.0)
>>> [s.value for s in next(iter(h.collect())).samples if s.name == "x_seconds_bucket"]
[1.0, 1.0, 2.0]
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class ClientHistogram(Collector):
    """A lock-free histogram for one thread; register it with a ``CollectorRegistry``."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.documentation = name, documentation
        self.labels = tuple(labels)
        self.bounds = tuple(buckets)
        self._series: dict[tuple[str, ...], list[float]] = {}  # per label set: bucket counts..., sum

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, value)] += 1  # the last slot before the sum is +Inf
        series[-1] += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, series in list(self._series.items()):
            cumulative, running = [], 0.0
            for bound, count in zip((*map(str, self.bounds), "+Inf"), series[:-1], strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric(list(labels), cumulative, series[-1])
        yield family
