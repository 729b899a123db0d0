"""The Locust side of the load generator (imported only inside Locust processes).

``loadtests/locustfile.py`` imports this module after Locust (Locust gevent-patches the
standard library on import; importing it after urllib3 or requests crashes). One
``TraceReplayUser`` per Locust process is the open-loop dispatcher for that process' shard
of the trace; each request runs on its own greenlet so the schedule never waits for a
response. Each request appends to the request log (written every second off the event loop)
and counts in client-side metrics for Prometheus; ``drillkit.loop`` keeps the loop free.

Distributed runs: the master hands every worker its shard (``index``/``count``) and one
common start time, and quits when every worker reports that its shard is done.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import gevent
from gevent.event import Event
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner
from prometheus_client import CollectorRegistry, start_http_server

from drillkit.answer_log import AnswerLogWriter, AnswerRecord
from drillkit.client_metrics import ClientCounter, ClientHistogram
from drillkit.headers import TARGET_HEADER
from drillkit.loop import BackgroundFlusher, InFlight, freeze_heap
from drillkit.measure import SHED
from drillkit.model.client import check_answer
from drillkit.replay import Dispatch, Schedule, run_schedule
from drillkit.request_log import RequestLogWriter, RequestRecord
from drillkit.trace import KINDS, Trace, read_trace
from drillkit.workload.requests import KserveRows, Rows, rows_of

SHARD_MESSAGE = "drillkit_shard"
DONE_MESSAGE = "drillkit_done"
# 0.15 and 0.2 between 0.1 and the 0.25 SLO: a p99 read from the histogram interpolates within a
# bucket, and a 117 ms p99 otherwise reads as anything up to 250 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})  # a response without headers (a transport error)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("drillkit trace replay")
    group.add_argument("--trace", type=str, default="", help="Trace to replay (CSV, Parquet or JSON Lines)")
    group.add_argument("--speed", type=float, default=1.0, help="Replay speed factor (2 = twice as fast)")
    group.add_argument("--request-log", type=str, default="request_log", help="Folder for the per-request log")
    group.add_argument("--max-requests", type=int, default=1_000_000, help="Hard cap on requests sent")
    group.add_argument("--max-duration", type=float, default=3_600.0, help="Hard cap on the replay, seconds")
    group.add_argument("--max-inflight", type=int, default=1_000, help="Requests in flight per process")
    group.add_argument("--request-timeout", type=float, default=10.0, help="Per-request timeout, seconds")
    group.add_argument("--metrics-dir", type=str, default="", help="Folder for Prometheus file-discovery targets")
    group.add_argument("--parse-every", type=int, default=10, help="Parse every Nth answer in full (1: all)")
    group.add_argument("--reference-version", type=str, default="", help="Keep the answers of every other model version")
    group.add_argument("--answers", type=str, default="answers", help="Folder for the kept answers")
    group.add_argument("--max-answers", type=int, default=50_000, help="Answers kept per process, at most")
    group.add_argument("--target-region", type=str, default="", help="Send every request to this region's nodes only")
    group.add_argument("--worker-prefix", type=str, default="", help="Name this load's log parts (default: the host name)")


@dataclass
class Replay:
    """Per-process replay state, attached to the Locust environment as ``drillkit_replay``."""

    trace: Trace
    rows: Rows | KserveRows
    log: RequestLogWriter
    registry: CollectorRegistry
    latency: ClientHistogram
    lag: ClientHistogram
    requests: ClientCounter
    worker: str
    parse_every: int = 10
    shard: tuple[int, int] = (0, 1)
    start_at: float | None = None
    assigned: Event = field(default_factory=Event)
    stopping: Event = field(default_factory=Event)  # set when Locust stops: no new request is sent
    done: Event = field(default_factory=Event)  # set when the last request in flight has returned
    claimed: bool = False
    metrics_target: Path | None = None
    flusher: BackgroundFlusher | None = None
    answers: AnswerLogWriter | None = None  # with a reference version: the other versions' answers
    reference_version: str = ""
    extra_headers: Mapping[str, str] = field(default_factory=dict)  # on every request (a target region)


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _init_master(environment)
        return
    options = environment.parsed_options
    if options is None or not options.trace:
        raise SystemExit("drillkit: --trace is required (a CSV or Parquet trace; see loadtests/README.md)")
    replay = _new_replay(options)
    environment.drillkit_replay = replay  # type: ignore[attr-defined]
    if isinstance(runner, WorkerRunner):
        runner.register_message(SHARD_MESSAGE, lambda msg, **_: _assign(replay, msg.data))
    else:
        replay.assigned.set()
    logs = (replay.log,) if replay.answers is None else (replay.log, replay.answers)
    replay.flusher = BackgroundFlusher(*logs)  # at most one second of rows is lost in a crash
    if options.metrics_dir:
        replay.metrics_target = _serve_metrics(replay, Path(options.metrics_dir))


@events.test_stopping.add_listener
def _test_stopping(environment: Environment, **_: Any) -> None:
    # The replay is one long task: without this, Locust waits out --stop-timeout for it.
    replay: Replay | None = getattr(environment, "drillkit_replay", None)
    if replay is not None:
        replay.stopping.set()


@events.quitting.add_listener
def _quitting(environment: Environment, **_: Any) -> None:
    replay: Replay | None = getattr(environment, "drillkit_replay", None)
    if replay is not None:
        # SIGTERM fires `quitting` before the runner stops its users: stop sending, and let the
        # requests in flight return (each is bounded by --request-timeout) so they are logged.
        replay.stopping.set()
        if replay.claimed:
            replay.done.wait(timeout=environment.parsed_options.request_timeout + 1)
        if replay.flusher is not None:
            replay.flusher.close()  # waits for a write in progress, then writes the rest
        else:
            replay.log.flush()
            if replay.answers is not None:
                replay.answers.flush()
        if replay.metrics_target is not None:
            replay.metrics_target.unlink(missing_ok=True)


def _new_replay(options: Any) -> Replay:
    registry = CollectorRegistry()
    worker = f"{options.worker_prefix or socket.gethostname()}-{os.getpid()}"
    trace = read_trace(options.trace)
    kinds = KINDS if trace.format == "recsys" else tuple(trace.kinds())
    return Replay(
        trace=trace,
        rows=rows_of(trace),
        log=RequestLogWriter(Path(options.request_log), worker=worker),
        registry=registry,
        latency=_register(registry, ClientHistogram("drillkit_client_request_seconds",
                          "Request latency seen by the load generator", ("kind", "region", "outcome"), LATENCY_BUCKETS)),
        lag=_register(registry, ClientHistogram("drillkit_client_schedule_lag_seconds",
                      "Send time minus scheduled time", ("kind",), LAG_BUCKETS)),
        requests=_register(registry, ClientCounter("drillkit_client_requests_total", "Requests by kind and outcome",
                           ("kind", "outcome"), initial=[(k, o) for k in kinds for o in ("ok", "error")])),
        worker=worker,
        parse_every=max(1, options.parse_every),
        answers=AnswerLogWriter(Path(options.answers), worker=worker, limit=max(0, options.max_answers))
        if options.reference_version else None,
        reference_version=options.reference_version,
        extra_headers={TARGET_HEADER: options.target_region} if options.target_region else {},
    )  # fmt: skip


C = TypeVar("C", ClientCounter, ClientHistogram)


def _register(registry: CollectorRegistry, collector: C) -> C:
    registry.register(collector)
    return collector


def _assign(replay: Replay, data: dict[str, Any]) -> None:
    replay.shard = (int(data["index"]), int(data["count"]))
    replay.start_at = float(data["start_at"])
    replay.assigned.set()


def _init_master(environment: Environment) -> None:
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    done: set[str] = set()

    def on_done(msg: Any, **_: Any) -> None:
        done.add(msg.node_id)
        if len(done) >= runner.worker_count:
            gevent.spawn_later(0.5, runner.quit)

    runner.register_message(DONE_MESSAGE, on_done)

    def shard(**_: Any) -> None:
        clients = sorted(runner.clients.keys())
        start_at = time.time() + 2.0  # every worker starts the same schedule at the same instant
        for index, client_id in enumerate(clients):
            data = {"index": index, "count": len(clients), "start_at": start_at}
            runner.send_message(SHARD_MESSAGE, data, client_id=client_id)

    events.test_start.add_listener(shard)


def _serve_metrics(replay: Replay, directory: Path) -> Path:
    server, _ = start_http_server(0, addr="127.0.0.1", registry=replay.registry)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{replay.worker}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [f"127.0.0.1:{server.server_port}"], "labels": {"worker": replay.worker}}]))
    tmp.replace(target)
    return target


def error_class(status: int, error: BaseException | None) -> str:
    """A short, stable name for what went wrong ('' when nothing did).

    >>> error_class(503, None), error_class(0, ConnectionResetError()), error_class(200, None)
    ('http_5xx', 'connection_reset', '')
    """
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    if error is None:
        return "" if 200 <= status < 300 else "no_response"
    if status == 200:
        return "bad_response"  # transport fine, but not a valid inference answer
    for kind, name in ((ConnectionRefusedError, "connection_refused"), (ConnectionResetError, "connection_reset"),
                       (BrokenPipeError, "connection_reset"), (TimeoutError, "timeout"), (socket.timeout, "timeout"),
                       (gevent.Timeout, "timeout")):  # fmt: skip
        if isinstance(error, kind):
            return name
    return type(error).__name__.lower()


class TraceReplayUser(FastHttpUser):
    """Open-loop replay of ``--trace`` through ``--host`` (a gateway or a Triton node).

    One instance per process dispatches; extra instances stop at once, so ``-u`` only needs
    to be at least the number of processes.
    """

    def __init__(self, environment: Environment) -> None:
        options = environment.parsed_options
        self.network_timeout = self.connection_timeout = options.request_timeout
        # As many pooled connections as requests in flight: a request waiting for a free
        # client connection would add the generator's own queueing to what users felt.
        self.concurrency = options.max_inflight
        super().__init__(environment)
        # A KServe client keeps no cookies (tritonclient has no cookie jar) and the gateway sets
        # none; the jar's two passes per request were ~8% of the generator's CPU.
        self.client.client.cookiejar = None

    @task
    def replay(self) -> None:
        replay: Replay = self.environment.drillkit_replay  # type: ignore[attr-defined]
        if replay.claimed:
            raise StopUser()
        replay.claimed = True
        options = self.environment.parsed_options
        if not replay.assigned.wait(timeout=30):
            raise StopUser()
        schedule = Schedule.build(
            replay.trace.frame["offset_s"].to_numpy(),
            speed=options.speed,
            shard=replay.shard,
            max_requests=options.max_requests,
            max_duration_s=options.max_duration,
        )
        inflight = InFlight(options.max_inflight)
        freeze_heap()  # before the start time is taken: the one full collection must not delay a request
        try:
            run_schedule(
                schedule,
                start_at=replay.start_at or time.time(),
                now=time.time,
                sleep=gevent.sleep,
                send=lambda d: inflight.spawn(self._send, replay, d),
                stopped=replay.stopping.is_set,
            )
            inflight.join(timeout_s=options.request_timeout + 5)
            replay.log.flush()
        finally:
            replay.done.set()
        self._finish()

    def _finish(self) -> None:
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message(DONE_MESSAGE, {"worker": self.environment.drillkit_replay.worker})  # type: ignore[attr-defined]
            raise StopUser()
        gevent.spawn_later(0.5, runner.quit)  # type: ignore[union-attr]
        raise StopUser()

    def _send(self, replay: Replay, dispatch: Dispatch) -> None:
        rows, i = replay.rows, dispatch.row
        kind = rows.kind[i]
        request = rows.request(i)
        sent_at = time.time()
        replay.lag.observe((kind,), max(0.0, sent_at - dispatch.scheduled_at))
        headers = {**request.headers, **replay.extra_headers} if replay.extra_headers else request.headers
        with self.client.post(request.path, data=request.body, headers=headers, name=kind, catch_response=True) as response:
            # Not `response.headers or ...`: the truth test is Headers.__len__, which counts in Python.
            headers = response.headers if response.headers is not None else _NO_HEADERS
            region, node = headers.get("x-drillkit-region", ""), headers.get("x-drillkit-node", "")
            version = headers.get("x-drillkit-version", "")
            if response.status_code == 200:
                _judge(response, headers, request.outputs, full_parse=i % replay.parse_every == 0)
        meta = response.request_meta
        error = meta["exception"]
        status = response.status_code or 0
        latency = (meta.get("response_time") or 0.0) / 1e3
        cls = "" if status == 200 and error is None else error_class(status, error)
        if status == 503 and headers.get("x-drillkit-shed"):
            cls = SHED  # the gateway answered at once instead of queueing: shed, not failed
        outcome = "error" if cls else "ok"
        if not cls and replay.answers is not None and version and version != replay.reference_version:
            replay.answers.append(AnswerRecord(i, version, response.content or b"",
                                               int(headers.get("inference-header-content-length") or 0)))  # fmt: skip
        replay.latency.observe((kind, region, outcome), latency)
        replay.requests.inc((kind, outcome))
        replay.log.append(RequestRecord(i, kind, dispatch.scheduled_at, sent_at, latency, outcome, cls, status,
                                        region, node, replay.worker, version))  # fmt: skip


def _judge(response: Any, headers: Any, outputs: tuple[str, ...], *, full_parse: bool) -> None:
    """Fail a 200 that is not a valid inference answer.

    Every answer gets a structural check (binary outputs behind a JSON header); a sample is
    parsed in full by tritonclient, which costs ~20 us a response.
    """
    try:
        if full_parse:
            check_answer(response.content, headers, outputs)
        elif int(headers.get("inference-header-content-length") or 0) >= len(response.content or b""):
            raise ValueError("no binary outputs behind the JSON header")
    except Exception as exc:  # tritonclient raises several types on a malformed body
        response.failure(f"bad inference response: {exc}")
