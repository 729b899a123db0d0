"""Trace replay through the real 2x2 stack: drillkit's Load, the stock Locust CLI, distributed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from drillkit.errors import ComponentError, SpecError
from drillkit.load import LOCUSTFILE, Load, LoadPlan
from drillkit.platforms.local import LocalPlatform
from drillkit.request_log import read_request_log
from drillkit.trace import read_trace, write_trace

pytestmark = pytest.mark.integration

SAMPLE = Path("loadtests/traces/sample.csv")  # 30 s at about 100 requests/s


def short_trace(tmp_path: Path, seconds: float) -> Path:
    frame = read_trace(SAMPLE).frame
    return write_trace(frame[frame["offset_s"] < seconds], tmp_path / "short.csv")


def prometheus_value(url: str, query: str) -> float:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=3) as r:
        result = json.load(r)["data"]["result"]
    return sum(float(x["value"][1]) for x in result)


def test_replaying_12s_at_100rps_logs_every_request_served_by_the_primary(
    running_stack: LocalPlatform, tmp_path: Path
) -> None:
    status = running_stack.status()
    plan = LoadPlan(trace=short_trace(tmp_path, 12.0), host=status.gateway_url or "", run_dir=tmp_path / "run", processes=2,
                    metrics_dir=Path(status.loadgen_targets_dir or ""))  # fmt: skip
    load = Load(plan)
    scraped = 0.0
    load.start()
    try:
        load.wait_sending(timeout_s=30)
        deadline = time.monotonic() + 60
        while load.running() and time.monotonic() < deadline:
            query = 'sum(drillkit_client_request_seconds_count{region="primary",outcome="ok"})'
            scraped = max(scraped, prometheus_value(status.prometheus_url or "", query))
            time.sleep(1)
    finally:
        path = load.stop()
    log = read_request_log(path.parent)
    assert len(log) == len(load.trace) == load.scheduled
    assert sorted(log["row"]) == list(range(len(load.trace)))
    assert (log["outcome"] == "ok").mean() >= 0.99
    assert set(log.loc[log["outcome"] == "ok", "region"]) == {"primary"}
    assert log["worker"].nunique() == 2  # both processes sent their shard
    assert scraped > 300  # Prometheus scraped the generator's own histogram during the run


def test_the_stock_locust_cli_replays_against_the_gateway(running_stack: LocalPlatform, tmp_path: Path) -> None:
    gateway = running_stack.status().gateway_url or ""
    trace = short_trace(tmp_path, 3.0)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "1", "-r", "1",
               "--run-time", "30s", "--host", gateway, "--trace", str(trace), "--request-log", str(tmp_path / "log")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Aggregated" in done.stdout + done.stderr  # Locust's own summary
    log = read_request_log(tmp_path / "log")
    assert len(log) == len(read_trace(trace)) and (log["outcome"] == "ok").all()


def test_one_master_and_one_worker_share_the_replay(running_stack: LocalPlatform, tmp_path: Path) -> None:
    gateway = running_stack.status().gateway_url or ""
    trace = short_trace(tmp_path, 3.0)
    common = ["-f", str(LOCUSTFILE), "--trace", str(trace), "--request-log", str(tmp_path / "log")]
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", "0",
         "--headless", "--expect-workers", "1", "-u", "1", "-r", "1", "--run-time", "40s", "--host", gateway],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = None
    try:
        port = _master_port(master.pid)
        worker = subprocess.Popen([sys.executable, "-m", "locust", *common, "--worker", "--master-host", "127.0.0.1",
                                   "--master-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        assert master.wait(timeout=60) == 0  # the master quits by itself once the worker reports its shard done
    finally:
        for proc in (master, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
    log = read_request_log(tmp_path / "log")
    assert len(log) == len(read_trace(trace)) and (log["outcome"] == "ok").all()


def test_an_unreachable_host_or_a_bad_trace_fails_before_any_load(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match="does not answer"):
        Load(LoadPlan(trace=SAMPLE, host="http://127.0.0.1:9", run_dir=tmp_path)).start()
    assert not (tmp_path / "locust.log").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("offset_s,kind,user_id,k\n0,browse,1,10\n")
    with pytest.raises(SpecError, match="unknown kind"):
        Load(LoadPlan(trace=bad, host="http://127.0.0.1:9", run_dir=tmp_path))


def _master_port(pid: int) -> int:
    """The port Locust's master bound (we asked for 0: any free one)."""
    import psutil

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ports = [c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.status == "LISTEN"]
        if ports:
            return ports[0]
        time.sleep(0.2)
    raise AssertionError("the Locust master did not listen")
