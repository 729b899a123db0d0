"""The open-loop load generator of ``bench_gpu``: one process of ``threads`` senders.

Each thread owns every ``threads``-th slot of the process's schedule (``rate`` requests/s)
and sends each request at its slot, over gRPC (pre-built ``ModelInferRequest`` protobufs on
tritonclient's own stub, so the client spends its time on the wire, not on encoding) or HTTP
(pre-encoded KServe bodies on a keep-alive connection). Latency is counted from the slot,
not from the send, so a server that falls behind cannot hide it (no coordinated omission);
``service`` is the send-to-answer time alone. Light imports only: it runs in spawned
processes beside the node.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

OUTPUTS = ("item_ids", "scores")


@dataclass(frozen=True)
class Call:
    """One request of the pool: ``query`` None is a ``recommend``."""

    user_id: int
    k: int
    query: str | None = None

    @property
    def model(self) -> str:
        return "recommend" if self.query is None else "search"


@dataclass
class Result:
    """What one process measured: latencies in seconds (from the slot, and service only), and
    ``span_s``, from the first slot to the last answer (longer than planned when it fell behind)."""

    latency: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    span_s: float = 0.0

    def merge(self, other: Result) -> None:
        self.latency += other.latency
        self.service += other.service
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.span_s = max(self.span_s, other.span_s)


def grpc_request(call: Call) -> object:
    """The protobuf of one call, built once (tritonclient's ``service_pb2``)."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=call.model)
    inputs = [("user_id", "INT64", np.array([[call.user_id]], np.int64).tobytes()),
              ("k", "INT32", np.array([[call.k]], np.int32).tobytes())]  # fmt: skip
    if call.query is not None:
        text = call.query.encode()
        inputs.insert(0, ("query", "BYTES", struct.pack("<I", len(text)) + text))
    for name, datatype, raw in inputs:
        tensor = request.inputs.add()
        tensor.name, tensor.datatype = name, datatype
        tensor.shape.extend([1, 1])
        request.raw_input_contents.append(raw)
    for name in OUTPUTS:
        request.outputs.add().name = name
    return request


class GrpcSender:
    """Blocking gRPC sends on one channel (one per thread: no head-of-line sharing)."""

    def __init__(self, port: int, calls: list[Call], timeout_s: float) -> None:
        import grpc
        from tritonclient.grpc import service_pb2_grpc

        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self.requests = [grpc_request(c) for c in calls]
        self.ks = [c.k for c in calls]
        self.timeout_s = timeout_s

    def send(self, index: int) -> str | None:
        import grpc

        try:
            response = self.stub.ModelInfer(self.requests[index], timeout=self.timeout_s)
        except grpc.RpcError as exc:
            return f"gRPC {exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]
        ids = np.frombuffer(response.raw_output_contents[0], dtype=np.int64) if response.raw_output_contents else ()
        return None if len(ids) == self.ks[index] else f"{len(ids)} items for k={self.ks[index]}"

    def close(self) -> None:
        self.channel.close()


class HttpSender:
    """Blocking HTTP sends of pre-encoded bodies on one keep-alive connection."""

    def __init__(self, port: int, calls: list[Call], timeout_s: float) -> None:
        from drillkit.model.client import (
            RecommenderClient,
            encode_recommend,
            encode_search,
        )

        self.client = RecommenderClient(f"http://127.0.0.1:{port}", timeout_s=timeout_s)
        self.requests = [encode_recommend(c.user_id, c.k) if c.query is None else encode_search(c.query, c.user_id, c.k) for c in calls]
        self.ks = [c.k for c in calls]

    def send(self, index: int) -> str | None:
        reply = self.client.send(self.requests[index])
        if reply.error is not None or reply.answer is None:
            return reply.error
        got = len(reply.answer.item_ids)
        return None if got == self.ks[index] else f"{got} items for k={self.ks[index]}"

    def close(self) -> None:
        self.client.close()


def run(protocol: str, port: int, calls: list[Call], rate: float, seconds: float, threads: int, seed: int) -> Result:
    """Send ``rate`` requests/s for ``seconds`` from ``threads`` threads; return what was measured."""
    start = time.perf_counter() + 0.2  # every thread connects first
    results = [Result() for _ in range(threads)]
    workers = [threading.Thread(target=_thread, args=(protocol, port, calls, rate, seconds, threads, slot, start, seed, results[slot]))
               for slot in range(threads)]  # fmt: skip
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=seconds + 60)
    total = Result()
    for r in results:
        total.merge(r)
    return total


def _thread(protocol: str, port: int, calls: list[Call], rate: float, seconds: float, threads: int, slot: int,
            start: float, seed: int, out: Result) -> None:  # fmt: skip
    sender = (GrpcSender if protocol == "grpc" else HttpSender)(port, calls, timeout_s=5.0)
    interval = threads / rate
    order = np.random.default_rng(seed * 1000 + slot).integers(0, len(calls), max(1, int(seconds / interval) + 1))
    try:
        for i, index in enumerate(order):
            due = start + slot / rate + i * interval
            if due - start >= seconds:
                break
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent = time.perf_counter()
            error = sender.send(int(index))
            done = time.perf_counter()
            _record(out, error, done - due, done - sent)
            out.span_s = done - start
    finally:
        sender.close()


def _record(out: Result, error: str | None, latency: float, service: float) -> None:
    if error is not None:
        out.errors += 1
        out.first_error = out.first_error or error
        return
    out.latency.append(latency)
    out.service.append(service)


def process_main(protocol: str, port: int, calls: list[Call], rate: float, seconds: float, threads: int, seed: int,
                 queue: object) -> None:  # fmt: skip
    """Entry point of one spawned load process: runs, then puts its Result on ``queue``."""
    queue.put(run(protocol, port, calls, rate, seconds, threads, seed))  # type: ignore[attr-defined]
