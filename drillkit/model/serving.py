"""The two Triton models bound with PyTriton: ``recommend`` and ``search``.

Both infer functions take the whole dynamic batch (a list of requests, each with a leading
batch dimension), score every row in one call with the largest ``k`` asked for (one upload,
one scan, one download of just the top-k on a GPU), and slice the answer back per request.
``instances`` model instances per model run side by side, each on its own CUDA stream, so
one batch's host work (PyTriton's IPC, decoding) overlaps another's device work.

Models are bound with ``strict=False``: PyTriton's strict check of every response's dtype
and shape cost about 19 us a request here, a third of the proxy's own per-request time;
``split`` returns the declared dtypes and shapes by construction (the unit tests check it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton

from drillkit.model.recommender import Recommender

Request = dict[str, np.ndarray]
Response = dict[str, np.ndarray]
Answer = tuple[np.ndarray, np.ndarray]

OUTPUTS = [Tensor(name="item_ids", dtype=np.int64, shape=(-1,)), Tensor(name="scores", dtype=np.float32, shape=(-1,))]
RECOMMEND_INPUTS = [Tensor(name="user_id", dtype=np.int64, shape=(1,)), Tensor(name="k", dtype=np.int32, shape=(1,))]
SEARCH_INPUTS = [Tensor(name="query", dtype=np.bytes_, shape=(1,)), *RECOMMEND_INPUTS]
PRESSURE_HOLD_S = 3.0  # a memory hog re-signals every 0.2 s; this outlasts a few missed signals


@dataclass
class DeviceHealth:
    """The node's view of its GPU.

    A GPU fault sets ``xid``; every inference then fails the way a CUDA call fails after that
    Xid, until the node is restarted (as on real hardware). Memory pressure (``pressure()``,
    signalled by a hog beside the node) makes the node hand its cached device memory back
    after every batch, so each batch must allocate anew: torch's caching allocator would
    otherwise hide a hog from a warm model, where a real node would fail its next allocation.

    >>> health = DeviceHealth(clock=lambda: 100.0)
    >>> health.pressure(); health.under_pressure()
    True
    """

    xid: int | None = None
    pressure_until: float = 0.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def check(self) -> None:
        if self.xid is not None:
            raise RuntimeError(XID_ERRORS.get(self.xid, f"CUDA error (Xid {self.xid})"))

    def pressure(self, hold_s: float = PRESSURE_HOLD_S) -> None:
        self.pressure_until = self.clock() + hold_s

    def under_pressure(self) -> bool:
        return self.clock() < self.pressure_until

    def after_batch(self, device: torch.device) -> None:
        if device.type == "cuda" and self.under_pressure():
            torch.cuda.empty_cache()


XID_ERRORS = {
    48: "CUDA error: uncorrectable ECC error encountered (Xid 48: double-bit ECC error)",
    79: "CUDA error: unspecified launch failure (Xid 79: GPU has fallen off the bus)",
}


def bind_models(
    triton: Triton, model: Recommender, health: DeviceHealth, *, max_batch_size: int, max_queue_delay_us: int,
    instances: int = 1,
) -> None:  # fmt: skip
    """Bind ``recommend`` and ``search`` to ``triton`` with dynamic batching, ``instances`` each."""
    config = ModelConfig(max_batch_size=max_batch_size, batcher=DynamicBatcher(max_queue_delay_microseconds=max_queue_delay_us))
    triton.bind(model_name="recommend", infer_func=[recommend_fn(model, health, lane) for lane in lanes(model.device, instances)],
                inputs=RECOMMEND_INPUTS, outputs=OUTPUTS, config=config, strict=False)  # fmt: skip
    triton.bind(model_name="search", infer_func=[search_fn(model, health, lane) for lane in lanes(model.device, instances)],
                inputs=SEARCH_INPUTS, outputs=OUTPUTS, config=config, strict=False)  # fmt: skip


Lane = Callable[[], AbstractContextManager[object]]


def lanes(device: torch.device, count: int) -> Iterator[Lane]:
    """One execution lane per model instance: its own CUDA stream on a GPU, nothing on CPU."""
    if count < 1:
        raise ValueError(f"instances must be >= 1, got {count}")
    for _ in range(count):
        if device.type == "cuda":
            stream = torch.cuda.Stream(device)
            yield lambda stream=stream: torch.cuda.stream(stream)  # type: ignore[misc]
        else:
            yield nullcontext


def recommend_fn(model: Recommender, health: DeviceHealth, lane: Lane = nullcontext) -> Callable[[list[Request]], list[Response]]:
    def infer(requests: list[Request]) -> list[Response]:
        users, k = _rows(requests)
        return _answer(requests, health, model.device, lane, lambda: model.recommend_host(users, k))

    return infer


def search_fn(model: Recommender, health: DeviceHealth, lane: Lane = nullcontext) -> Callable[[list[Request]], list[Response]]:
    def infer(requests: list[Request]) -> list[Response]:
        users, k = _rows(requests)
        queries = [_text(q) for r in requests for q in r["query"].reshape(-1)]
        return _answer(requests, health, model.device, lane, lambda: model.search_host(queries, users, k))

    return infer


def _answer(requests: list[Request], health: DeviceHealth, device: torch.device, lane: Lane,
            score: Callable[[], Answer]) -> list[Response]:  # fmt: skip
    health.check()
    try:
        with lane():
            ids, scores = score()
    finally:
        health.after_batch(device)
    health.check()  # a fault during the batch fails it too, as in-flight kernels fail on an Xid
    return split(requests, ids, scores)


def _rows(requests: list[Request]) -> tuple[np.ndarray, int]:
    users = np.concatenate([r["user_id"].reshape(-1) for r in requests]).astype(np.int64)
    k = int(max(int(r["k"].max()) for r in requests))
    return users, k


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def split(requests: list[Request], ids: np.ndarray, scores: np.ndarray) -> list[Response]:
    """Slice one batch's ``[rows, k_max]`` answer back into each request's rows and own ``k`` (views, no copies)."""
    out, row = [], 0
    for r in requests:
        n, k = len(r["user_id"]), int(r["k"].max())
        out.append({"item_ids": ids[row : row + n, :k], "scores": scores[row : row + n, :k]})
        row += n
    return out
