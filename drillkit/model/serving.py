"""The two Triton models bound with PyTriton: ``recommend`` and ``search``.

Both infer functions take the whole dynamic batch (a list of requests, each with a leading
batch dimension), score every row in one call with the largest ``k`` asked for, and slice
the answer back per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton

from drillkit.model.recommender import Recommender

Request = dict[str, np.ndarray]
Response = dict[str, np.ndarray]

OUTPUTS = [Tensor(name="item_ids", dtype=np.int64, shape=(-1,)), Tensor(name="scores", dtype=np.float32, shape=(-1,))]
RECOMMEND_INPUTS = [Tensor(name="user_id", dtype=np.int64, shape=(1,)), Tensor(name="k", dtype=np.int32, shape=(1,))]
SEARCH_INPUTS = [Tensor(name="query", dtype=np.bytes_, shape=(1,)), *RECOMMEND_INPUTS]


@dataclass
class DeviceHealth:
    """The node's view of its GPU. A GPU fault sets ``xid``; every inference then fails the way
    a CUDA call fails after that Xid, until the node is restarted (as on real hardware)."""

    xid: int | None = None

    def check(self) -> None:
        if self.xid is not None:
            raise RuntimeError(XID_ERRORS.get(self.xid, f"CUDA error (Xid {self.xid})"))


XID_ERRORS = {
    48: "CUDA error: uncorrectable ECC error encountered (Xid 48: double-bit ECC error)",
    79: "CUDA error: unspecified launch failure (Xid 79: GPU has fallen off the bus)",
}


def bind_models(
    triton: Triton, model: Recommender, health: DeviceHealth, *, max_batch_size: int, max_queue_delay_us: int
) -> None:
    """Bind ``recommend`` and ``search`` to ``triton`` with dynamic batching."""
    config = ModelConfig(max_batch_size=max_batch_size, batcher=DynamicBatcher(max_queue_delay_microseconds=max_queue_delay_us))
    triton.bind(model_name="recommend", infer_func=recommend_fn(model, health), inputs=RECOMMEND_INPUTS, outputs=OUTPUTS,
                config=config, strict=True)  # fmt: skip
    triton.bind(model_name="search", infer_func=search_fn(model, health), inputs=SEARCH_INPUTS, outputs=OUTPUTS,
                config=config, strict=True)  # fmt: skip


def recommend_fn(model: Recommender, health: DeviceHealth) -> Callable[[list[Request]], list[Response]]:
    def infer(requests: list[Request]) -> list[Response]:
        health.check()
        users, k = _rows(requests)
        ids, scores = model.recommend(torch.from_numpy(users), k)
        return _split(requests, ids, scores)

    return infer


def search_fn(model: Recommender, health: DeviceHealth) -> Callable[[list[Request]], list[Response]]:
    def infer(requests: list[Request]) -> list[Response]:
        health.check()
        users, k = _rows(requests)
        queries = [_text(q) for r in requests for q in r["query"].reshape(-1)]
        ids, scores = model.search(queries, torch.from_numpy(users), k)
        return _split(requests, ids, scores)

    return infer


def _rows(requests: list[Request]) -> tuple[np.ndarray, int]:
    users = np.concatenate([r["user_id"].reshape(-1) for r in requests]).astype(np.int64)
    k = int(max(int(r["k"].max()) for r in requests))
    return users, k


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _split(requests: list[Request], ids: torch.Tensor, scores: torch.Tensor) -> list[Response]:
    ids_np, scores_np = ids.cpu().numpy(), scores.cpu().numpy()
    out, row = [], 0
    for r in requests:
        n, k = len(r["user_id"]), int(r["k"].max())
        out.append({"item_ids": ids_np[row : row + n, :k], "scores": scores_np[row : row + n, :k]})
        row += n
    return out
