"""Benchmark of the load generator (``make bench``; not part of ``make test``).

1. Schedule keeping: a flat 300 requests/s trace through the 2x2 stack: p99 schedule lag and
   the share of requests sent within 10 ms of schedule. Drills run one Locust process (the
   spec's default), so that is the figure with the target; two processes (a master and two
   workers: three Python processes beside four Triton nodes on this machine's two cores) are
   shown beside it. The same figure on a user's model: a KServe v2 trace of the fixture ranker
   (FP32 feature rows, served by tritonserver from a Triton repository, 2x2). The same recsys
   trace against the trivial endpoint (below) shows the generator without the stack competing
   for the cores.
2. The generator's own ceiling on one core, against a trivial endpoint (HAProxy answering a
   fixed, valid KServe response, so the server is never the bottleneck), side by side with a
   plain Locust ``FastHttpUser`` posting the same bytes in a closed loop, in the same run.
   The two alternate for a few rounds and the median ratio is reported: other work on the
   machine moves single runs by +-20%.

All traffic stays on 127.0.0.1 and every run is bounded in time and count.

To see where a generator's time goes, sample it while it runs (py-spy is in the test extra):
``py-spy record -r 250 -f raw -o profile.txt --pid <locust pid>``; for counts that other work
on the machine does not move, run the Locust command under ``valgrind --tool=callgrind
--instr-atstart=no`` and switch instrumentation on for a window with ``callgrind_control -i on``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from drillkit.load import Load, LoadPlan
from drillkit.model.client import encode_recommend
from drillkit.netutil import free_port
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.provision import ensure_built
from drillkit.request_log import read_request_log
from drillkit.spec import ModelSpec, WorkloadSpec, load_environment
from drillkit.trace import write_trace
from drillkit.workload.trace import write_kserve

SCHEDULE_RPS, SCHEDULE_S = 300, 20
CEILING_S, CEILING_ROUNDS = 10, 3
PLAIN_USERS = 32
RANKER = Path(__file__).resolve().parents[1] / "fixtures" / "ranker-repository"

PLAIN_LOCUSTFILE = '''
from locust import FastHttpUser, constant, task
BODY = open({body!r}, "rb").read()
HEADERS = {headers!r}

class Plain(FastHttpUser):
    wait_time = constant(0)

    @task
    def recommend(self):
        self.client.post("/v2/models/recommend/infer", data=BODY, headers=HEADERS, name="recommend")
'''


def flat_trace(path: Path, rps: float, seconds: float) -> Path:
    n = int(rps * seconds)
    frame = pd.DataFrame({"offset_s": np.arange(n) / rps, "kind": "recommend", "user_id": np.arange(n) % 1_000,
                          "query": "", "k": 10, "session_id": ""})  # fmt: skip
    return write_trace(frame, path)


def flat_kserve_trace(path: Path, rps: float, seconds: float) -> Path:
    """The ranker's requests (one row of 16 FP32 features each) at a flat rate."""
    rng = np.random.default_rng(7)
    rows = [{"offset_s": i / rps, "model": "ranker",
             "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 16], "data": rng.standard_normal(16).round(4).tolist()}]}
            for i in range(int(rps * seconds))]  # fmt: skip
    return write_kserve(rows, path)


def schedule_keeping(tmp: Path, host: str, processes: int, trace: Path | None = None) -> dict[str, float]:
    """Replay a flat SCHEDULE_RPS trace against ``host``; lag and latency figures from the request log."""
    run = tmp / f"schedule-{processes}-{time.monotonic_ns()}"
    trace = trace or flat_trace(tmp / "flat.csv", SCHEDULE_RPS, SCHEDULE_S)
    plan = LoadPlan(trace=trace, host=host, run_dir=run, processes=processes)
    load = Load(plan)
    load.start()
    load.wait(SCHEDULE_S + 60)
    log = read_request_log(load.stop().parent)
    lag = log["sent_at"] - log["scheduled_at"]
    return {
        "processes": processes,
        "requests": len(log),
        "ok_share": round(float((log["outcome"] == "ok").mean()), 4),
        "lag_p50_ms": round(float(lag.quantile(0.5)) * 1e3, 2),
        "lag_p99_ms": round(float(lag.quantile(0.99)) * 1e3, 2),
        "lag_max_ms": round(float(lag.max()) * 1e3, 1),
        "within_10ms": round(float((lag <= 0.010).mean()), 4),
        "latency_p99_ms": round(float(log["latency_s"].quantile(0.99)) * 1e3, 2),
    }


def on_stack(tmp: Path) -> list[dict[str, float]]:
    spec = load_environment("drills/environments/local.yaml").model_copy(update={"state_dir": tmp / "state", "name": "bench"})
    ensure_built(spec.model, spec.state_dir / "models")
    platform = LocalPlatform(spec)
    platform.up()
    try:
        gateway = platform.status().gateway_url or ""
        return [schedule_keeping(tmp, gateway, processes) for processes in (1, 2)]
    finally:
        platform.down()


def on_ranker_stack(tmp: Path) -> dict[str, float]:
    """The flat rate as a KServe v2 trace of a user's model, through a 2x2 stack serving it."""
    spec = load_environment("drills/environments/local.yaml").model_copy(update={
        "state_dir": tmp / "ranker-state", "name": "bench-ranker", "model": ModelSpec(version="r1"),
        "workload": WorkloadSpec(repository=RANKER)})  # fmt: skip
    platform = LocalPlatform(spec)
    platform.up()
    try:
        trace = flat_kserve_trace(tmp / "ranker.jsonl", SCHEDULE_RPS, SCHEDULE_S)
        return schedule_keeping(tmp, platform.status().gateway_url or "", 1, trace)
    finally:
        platform.down()


def trivial_endpoint(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """HAProxy answering every request with one fixed, valid recommend response."""
    ids, scores = np.arange(10, dtype=np.int64), np.linspace(1, 0, 10, dtype=np.float32)
    outputs = [{"name": "item_ids", "datatype": "INT64", "shape": [1, 10], "parameters": {"binary_data_size": 80}},
               {"name": "scores", "datatype": "FP32", "shape": [1, 10], "parameters": {"binary_data_size": 40}}]  # fmt: skip
    head = json.dumps({"model_name": "recommend", "outputs": outputs}).encode()
    (tmp / "answer.bin").write_bytes(head + ids.tobytes() + scores.tobytes())
    port = free_port()
    (tmp / "trivial.cfg").write_text(f"""global
    nbthread 1
defaults
    mode http
    timeout client 30s
    timeout connect 1s
    timeout server 1s
frontend trivial
    bind 127.0.0.1:{port}
    http-request return status 200 content-type application/octet-stream file {tmp / "answer.bin"} hdr Inference-Header-Content-Length {len(head)} if {{ method POST }}
    http-request return status 200 content-type text/plain string ok
""")
    proc = subprocess.Popen([shutil.which("haproxy") or "haproxy", "-db", "-f", str(tmp / "trivial.cfg")])
    time.sleep(0.5)
    return proc, f"http://127.0.0.1:{port}"


def drillkit_ceiling(tmp: Path, url: str) -> float:
    """Requests/s the replay sends on one core when the schedule is always behind (a flood trace).

    Counted over CEILING_S seconds from one second after the first send (connections warm),
    as the plain user's figure is counted after all its users started (``--reset-stats``).
    """
    trace = flat_trace(tmp / "flood.csv", 20_000, CEILING_S + 5)  # far more than one core can send
    load = Load(LoadPlan(trace=trace, host=url, run_dir=tmp / f"ceiling-{time.monotonic_ns()}", processes=1,
                         max_inflight=64))  # fmt: skip
    load.start()
    load.wait_sending()
    time.sleep(CEILING_S + 2)
    log = read_request_log(load.stop().parent)
    ok = log.loc[log["outcome"] == "ok", "sent_at"]
    begin = float(ok.min()) + 1.0
    return int(((ok >= begin) & (ok < begin + CEILING_S)).sum()) / CEILING_S


def plain_ceiling(tmp: Path, url: str) -> float:
    request = encode_recommend(1, 10)
    (tmp / "body.bin").write_bytes(request.body)
    locustfile = tmp / "plain.py"
    locustfile.write_text(PLAIN_LOCUSTFILE.format(body=str(tmp / "body.bin"), headers=request.headers))
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(PLAIN_USERS),
               "-r", str(PLAIN_USERS), "--run-time", f"{CEILING_S + 1}s", "--reset-stats", "--host", url, "--json",
               "--only-summary"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=CEILING_S + 60, check=False)
    stats = json.loads(done.stdout)
    entry = next(s for s in stats if s["name"] == "recommend")
    return entry["num_requests"] / (entry["last_request_timestamp"] - entry["start_time"])


def ceilings(tmp: Path, url: str) -> list[tuple[float, float]]:
    """(drillkit, plain) requests/s, alternating, CEILING_ROUNDS times."""
    return [(drillkit_ceiling(tmp, url), plain_ceiling(tmp, url)) for _ in range(CEILING_ROUNDS)]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="drillkit-bench-load-") as name:
        tmp = Path(name)
        stack = on_stack(tmp)
        ranker = on_ranker_stack(tmp)
        proc, url = trivial_endpoint(tmp)
        try:
            alone = schedule_keeping(tmp, url, processes=1)
            rounds = ceilings(tmp, url)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    _print(stack, ranker, alone, rounds)


def _print(stack: list[dict[str, float]], ranker: dict[str, float], alone: dict[str, float],
           rounds: list[tuple[float, float]]) -> None:  # fmt: skip
    table = Table(title="load generator on this machine", title_justify="left")
    for column in ("figure", "value", "target"):
        table.add_column(column)
    for s, where, target in ((stack[0], "via stack, 1 process (drills)", ">= 99%"), (stack[1], "via stack, 2 processes", ""),
                             (ranker, "ranker (KServe v2 trace) via its stack, 1 process", ">= 99%"),
                             (alone, "trivial endpoint, 1 process", "")):  # fmt: skip
        table.add_row(f"{SCHEDULE_RPS} req/s {where}: lag p50 / p99 / max", f"{s['lag_p50_ms']} / {s['lag_p99_ms']} / {s['lag_max_ms']} ms", "")
        table.add_row("  sent within 10 ms of schedule", f"{s['within_10ms']:.2%}", target)
        table.add_row("  ok share / latency p99", f"{s['ok_share']:.2%} / {s['latency_p99_ms']} ms", "")
    ours, plain = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    ratios = [r[0] / r[1] for r in rounds]
    table.add_row(f"drillkit replay ceiling, 1 core (median of {len(rounds)})", f"{ours:.0f} req/s", "")
    table.add_row(f"plain FastHttpUser ({PLAIN_USERS} users), 1 core (median)", f"{plain:.0f} req/s", "")
    table.add_row("ratio (median of rounds)", f"{statistics.median(ratios):.2f}x  ({', '.join(f'{r:.2f}' for r in ratios)})", ">= 0.8x")
    Console().print(table)
    print(json.dumps({"schedule": {"stack": stack, "ranker": ranker, "trivial": alone},
                      "ceiling_rps": [{"drillkit": round(a), "plain_fasthttpuser": round(b)} for a, b in rounds]}))  # fmt: skip


if __name__ == "__main__":
    main()
