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

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
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


class ClientCounter(Collector):
    """A lock-free counter for one thread whose label sets can be created at zero up front.

    A series that first appears with a value hides its first increase from ``rate()``; so
    the request counter starts every ``(kind, outcome)`` at zero and the first error counts.

    >>> c = ClientCounter("x_total", "demo", ("outcome",), initial=[("ok",), ("error",)])
    >>> c.inc(("error",)); [(s.labels["outcome"], s.value) for s in next(iter(c.collect())).samples]
    [('ok', 0.0), ('error', 1.0)]
    """

    def __init__(self, name: str, documentation: str, labels: Sequence[str], initial: Sequence[tuple[str, ...]] = ()) -> None:
        self.name, self.documentation = name, documentation
        self.labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {tuple(i): 0.0 for i in initial}

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name.removesuffix("_total"), self.documentation, labels=self.labels)
        for labels, value in list(self._values.items()):
            family.add_metric(list(labels), value)
        yield family
