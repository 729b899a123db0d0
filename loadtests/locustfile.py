"""Open-loop replay of a search/recommend trace through a gateway (or one Triton node).

Works with the stock Locust CLI:

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8000 \
        --trace loadtests/traces/sample.csv -u 1 -r 1 --run-time 60s

and distributed (one master, any number of workers; ``-u`` at least the worker count):

    locust -f loadtests/locustfile.py --master --headless --expect-workers 2 -u 2 -r 2 \
        --host http://127.0.0.1:8000 --trace loadtests/traces/sample.csv
    locust -f loadtests/locustfile.py --worker --trace loadtests/traces/sample.csv   # x2

See loadtests/README.md for the options, the trace format and the request log.
"""

from locust import events  # noqa: F401  Locust first: it gevent-patches the standard library

from drillkit.loadgen import TraceReplayUser  # noqa: E402,F401  the one user class

__all__ = ["TraceReplayUser"]
