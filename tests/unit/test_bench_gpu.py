"""Pieces of ``make bench-gpu`` that need no node: metrics parsing, request encoding, the verdict."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as triton_grpc

from tests.benchmarks import bench_gpu, gpu_load
from tests.benchmarks.gpu_node import parse_metrics

# The shape of Triton's own exposition (2.5x), trimmed: two models, a third one ignored, one GPU.
TRITON_METRICS = """\
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="recommend",version="1"} 120
nv_inference_request_success{model="search",version="1"} 80
nv_inference_request_success{model="other",version="1"} 999
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="recommend",version="1"} 10
nv_inference_exec_count{model="search",version="1"} 10
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="recommend",version="1"} 5000
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-1"} 0.42
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="GPU-1"} 1073741824
# TYPE nv_gpu_power_usage gauge
nv_gpu_power_usage{gpu_uuid="GPU-1"} 180.5
"""


def test_counters_are_summed_over_our_models_and_gpu_gauges_read() -> None:
    scrape = parse_metrics(TRITON_METRICS)
    assert scrape.counters["success"] == 200 and scrape.counters["executions"] == 20
    assert scrape.counters["queue_us"] == 5000 and scrape.counters["failure"] == 0
    assert (scrape.gpu_utilization, scrape.gpu_memory_used, scrape.gpu_power) == (0.42, 2**30, 180.5)
    assert scrape.gpu_source == "triton"
    later = parse_metrics(TRITON_METRICS.replace("} 120", "} 220"))
    assert later.delta(scrape)["success"] == 100


def test_a_cpu_node_exports_no_gpu_gauges() -> None:
    scrape = parse_metrics("\n".join(line for line in TRITON_METRICS.splitlines() if "gpu" not in line) + "\n")
    assert scrape.gpu_utilization is None and scrape.gpu_memory_used is None and scrape.gpu_power is None
    assert scrape.gpu_source is None  # the bench then asks NVML, where there is one


def test_prebuilt_grpc_requests_carry_what_tritonclient_would_send() -> None:
    request = gpu_load.grpc_request(gpu_load.Call(user_id=42, k=20, query="red shoes"))
    assert request.model_name == "search"  # type: ignore[attr-defined]
    names = [(t.name, t.datatype, list(t.shape)) for t in request.inputs]  # type: ignore[attr-defined]
    assert names == [("query", "BYTES", [1, 1]), ("user_id", "INT64", [1, 1]), ("k", "INT32", [1, 1])]
    reference = triton_grpc.InferInput("query", [1, 1], "BYTES")
    reference.set_data_from_numpy(np.array([[b"red shoes"]], dtype=np.object_))
    assert request.raw_input_contents[0] == reference._get_content()  # type: ignore[attr-defined]
    assert np.frombuffer(request.raw_input_contents[1], np.int64).tolist() == [42]  # type: ignore[attr-defined]
    assert [o.name for o in request.outputs] == ["item_ids", "scores"]  # type: ignore[attr-defined]


def test_the_verdict_names_the_best_stage_that_kept_the_latency_target() -> None:
    rows = [
        {"protocol": "grpc", "offered_rps": 2500.0, "achieved_rps": 2500.0, "p99_ms": 2.0, "errors": 0},
        {"protocol": "grpc", "offered_rps": 5000.0, "achieved_rps": 5001.0, "p99_ms": 4.1, "errors": 0},
        {"protocol": "grpc", "offered_rps": 7500.0, "achieved_rps": 6000.0, "p99_ms": 90.0, "errors": 0},
    ]
    assert bench_gpu._verdict("grpc", rows).endswith("5000 req/s MET: best 5001.0 req/s at p99 4.1 ms")
    assert " NOT MET: best 2500.0" in bench_gpu._verdict("grpc", rows[:1])
    short = [{**rows[1], "achieved_rps": 4990.0}]
    assert " NOT MET: best 4990.0" in bench_gpu._verdict("grpc", short)  # 5,000 req/s is the floor
    assert "NOT MET: no stage" in bench_gpu._verdict("grpc", [{**rows[0], "errors": 3}])
