"""Start and stop trace replay (Locust in a child process) and follow its request log.

Locust runs in its own process (it gevent-patches the standard library on import), started
detached like every other component so ``stop`` can end its whole process group.

>>> load = Load(LoadPlan(trace=Path("loadtests/traces/sample.csv"),
...                      host="http://127.0.0.1:8000", run_dir=Path("reports/x")))  # doctest: +SKIP
>>> load.start(); load.wait_sending()                                              # doctest: +SKIP
>>> load.progress().sent                                                           # doctest: +SKIP
>>> load.stop()                                                                    # doctest: +SKIP
PosixPath('reports/x/request_log/requests.parquet')
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from drillkit import supervise
from drillkit.answer_log import ANSWERS
from drillkit.errors import ComponentError, StartupError
from drillkit.netutil import http_status
from drillkit.request_log import compact
from drillkit.trace import Trace, read_trace
from drillkit.workload.metadata import served_metadata
from drillkit.workload.trace import check_live

LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadtests" / "locustfile.py"


@dataclass(frozen=True)
class LoadPlan:
    """What to replay, against which host, and the hard caps that bound every run."""

    trace: Path
    host: str
    run_dir: Path
    speed: float = 1.0
    processes: int = 1
    max_requests: int = 1_000_000
    max_duration_s: float = 3_600.0
    max_inflight: int = 1_000
    request_timeout_s: float = 10.0
    metrics_dir: Path | None = None
    reference_version: str | None = None  # answers from any other version are kept (a release's, for its audit)
    max_answers: int = 50_000
    target_region: str | None = None  # every request names this region: only its nodes serve it (a capacity ramp)
    name: str = "locust"  # its log is <run_dir>/<name>.log
    log_dir: Path | None = None  # the request log's folder (default <run_dir>/request_log); a surge writes the drill's
    compact: bool = True  # merge the log's parts when it stops (not into a folder another load still writes)
    worker_prefix: str | None = None  # names its log parts, so it counts only its own in a shared folder

    @property
    def request_log(self) -> Path:
        return self.log_dir or self.run_dir / "request_log"

    @property
    def answers(self) -> Path:
        return self.run_dir / ANSWERS


@dataclass(frozen=True)
class LoadProgress:
    """Counts read from the request log so far."""

    sent: int
    ok: int
    errors: int
    rate_rps: float  # over the last second of scheduled time


@dataclass(frozen=True)
class LiveWindow:
    """The load generator's own view of the last seconds (for abort guards)."""

    requests: int
    error_ratio: float
    p99_ms: float


def check_served(trace: Trace, host: str) -> None:
    """Refuse a KServe trace whose first wrong row the live models would refuse, before any load."""
    served = {m: served_metadata(host, m) for m in trace.kinds()}
    check_live(trace.frame, trace.path, {m: meta for m, meta in served.items() if meta is not None})


class Load:
    """One replay run. Attributes: ``plan``, ``trace`` (validated at construction), ``process``."""

    def __init__(self, plan: LoadPlan, *, python: str = sys.executable, locustfile: Path = LOCUSTFILE) -> None:
        if plan.speed <= 0 or plan.processes < 1 or plan.max_requests < 1 or plan.max_duration_s <= 0:
            raise ValueError(f"invalid load plan: {plan}")
        self.plan = plan
        self.trace: Trace = read_trace(plan.trace)
        self.python = python
        self.locustfile = locustfile
        self.process: supervise.Process | None = None
        self._seen: dict[Path, pd.DataFrame] = {}
        self._seen_lock = threading.Lock()  # progress() runs in the drill, recent() in its guard thread

    @property
    def scheduled(self) -> int:
        """Requests the replay will send (the trace within both caps)."""
        due = self.trace.frame["offset_s"] / self.plan.speed
        return int(min((due <= self.plan.max_duration_s).sum(), self.plan.max_requests))

    @property
    def duration_s(self) -> float:
        return min(self.trace.duration_s / self.plan.speed, self.plan.max_duration_s)

    def start(self) -> None:
        """Check the host answers, then start Locust; the request log starts empty."""
        if http_status(f"{self.plan.host}/v2/health/ready", timeout_s=2.0) != 200:
            raise ComponentError(f"{self.plan.host} does not answer /v2/health/ready: is the environment up (`drillkit up`)?")
        if self.trace.format == "kserve":
            check_served(self.trace, self.plan.host)
        self.plan.run_dir.mkdir(parents=True, exist_ok=True)
        self.process = supervise.spawn(self.plan.name, self.command(), log_path=self.plan.run_dir / f"{self.plan.name}.log")

    def command(self) -> list[str]:
        """The Locust command line (headless, one dispatcher per process, hard run-time cap)."""
        p = self.plan
        users = str(p.processes)
        run_time = math.ceil(self.duration_s + p.request_timeout_s + 15)
        command = [
            self.python, "-m", "locust", "-f", str(self.locustfile), "--headless", "--host", p.host,
            "-u", users, "-r", users, "--run-time", f"{run_time}s", "--stop-timeout", str(math.ceil(p.request_timeout_s)),
            "--only-summary", "--loglevel", "WARNING",
            "--trace", str(p.trace), "--speed", str(p.speed), "--request-log", str(p.request_log),
            "--max-requests", str(p.max_requests), "--max-duration", str(p.max_duration_s),
            "--max-inflight", str(p.max_inflight), "--request-timeout", str(p.request_timeout_s),
        ]  # fmt: skip
        if p.processes > 1:
            command += ["--processes", str(p.processes)]
        if p.metrics_dir is not None:
            command += ["--metrics-dir", str(p.metrics_dir)]
        if p.reference_version is not None:
            command += ["--reference-version", p.reference_version, "--answers", str(p.answers),
                        "--max-answers", str(p.max_answers)]  # fmt: skip
        if p.target_region is not None:
            command += ["--target-region", p.target_region]
        if p.worker_prefix is not None:
            command += ["--worker-prefix", p.worker_prefix]
        return command

    def running(self) -> bool:
        return self.process is not None and supervise.alive(self.process)

    def wait_sending(self, timeout_s: float = 30.0) -> None:
        """Return once the first requests are logged; fail with Locust's log if it died."""
        deadline = time.monotonic() + timeout_s
        while self.progress().sent == 0:
            if not self.running():
                raise StartupError(f"the load generator exited before sending:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise StartupError(f"the load generator sent nothing in {timeout_s:.0f} s:\n{self._log_tail()}")
            time.sleep(0.2)

    def wait(self, timeout_s: float) -> bool:
        """Wait until Locust exits by itself (the trace is done); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def progress(self) -> LoadProgress:
        """Counts from the parts flushed so far (each part is read once)."""
        frame = self._flushed()
        if frame.empty:
            return LoadProgress(0, 0, 0, 0.0)
        ok = int((frame["outcome"] == "ok").sum())
        newest = float(frame["scheduled_at"].max())
        rate = float((frame["scheduled_at"] > newest - 1.0).sum())
        return LoadProgress(len(frame), ok, len(frame) - ok, rate)

    def recent(self, window_s: float, now: float) -> LiveWindow | None:
        """Error ratio and p99 of the requests scheduled in the last ``window_s`` before ``now``
        (None when none is logged yet: a request is logged when it completes or times out)."""
        frame = self._flushed()
        recent = frame[frame["scheduled_at"] >= now - window_s] if len(frame) else frame
        if recent.empty:
            return None
        failed = float((recent["outcome"] != "ok").mean())
        return LiveWindow(len(recent), failed, float(recent["latency_s"].quantile(0.99)) * 1e3)

    def latency_quantiles(self, q: float) -> dict[str, float]:
        """The ``q`` latency quantile in ms of each request kind (model) answered so far."""
        frame = self._flushed()
        if frame.empty:
            return {}
        ok = frame[frame["outcome"] == "ok"]
        return {str(kind): float(group["latency_s"].quantile(q)) * 1e3 for kind, group in ok.groupby("kind")}

    def _flushed(self) -> pd.DataFrame:
        with self._seen_lock:
            for part in sorted(self.plan.request_log.glob(f"part-{self.plan.worker_prefix or ''}*.parquet")):
                if part not in self._seen:
                    self._seen[part] = pd.read_parquet(part, columns=["scheduled_at", "kind", "outcome", "latency_s"])
            return pd.concat(self._seen.values(), ignore_index=True) if self._seen else pd.DataFrame()

    def stop(self, grace_s: float = 15.0) -> Path:
        """Stop Locust (SIGTERM lets it flush), then compact the request log; return its path."""
        if self.process is not None and self.running():
            supervise.send(self.process, signal.SIGTERM)
            self.wait(grace_s)
            supervise.terminate([self.process], grace_s=2.0)
        self.plan.request_log.mkdir(parents=True, exist_ok=True)
        return compact(self.plan.request_log) if self.plan.compact else self.plan.request_log

    def _log_tail(self) -> str:
        return supervise.log_tail(self.plan.run_dir / f"{self.plan.name}.log")
