"""The recommender: shared item embeddings, scored by one matmul and ``torch.topk``.

No training: embeddings are constructed so answers make sense. An item is a light share of
its category's vector plus its title tokens' vectors (sum / sqrt(n), so every word counts
the same whatever the title's length); a user is a mix of preferred category
vectors; a query is the mean of its tokens' vectors. Tokens are hashed into buckets with a
stable hash (``zlib.crc32``, never Python's salted ``hash()``), so any text can be searched.

>>> model = Recommender(build_weights(make_catalog(ModelParams(items=500, users=50)), ModelParams(items=500, users=50)))
>>> ids, scores = model.recommend(torch.tensor([3]), k=5)
>>> tuple(ids.shape)
(1, 5)
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import torch

from drillkit.model.catalog import Catalog, ModelParams, make_catalog  # noqa: F401  (doctest)

MAX_K = 1000
_TOKEN = re.compile(r"[a-z0-9]+")
_PERSONALISATION = 0.15  # how much the user's taste tilts search results
_BIAS_WEIGHT = 0.01  # how much popularity tilts every result (log-popularity spans ~10)


def tokens(text: str, buckets: int) -> list[int]:
    """Hash buckets of the lowercase alphanumeric tokens of ``text``."""
    return [zlib.crc32(t.encode()) % buckets for t in _TOKEN.findall(text.lower())]


def build_weights(catalog: Catalog, params: ModelParams) -> dict[str, np.ndarray]:
    """The model's tensors (float32): items, users, token table and popularity bias."""
    rng = np.random.default_rng(params.seed + 1)
    token_table = rng.standard_normal((params.hash_buckets, params.dim), dtype=np.float32)
    category = rng.standard_normal((params.categories, params.dim), dtype=np.float32)
    # A light category vector: title words must outweigh it, or search would only find categories.
    items = 0.3 * category[catalog.item_category] + _title_vectors(catalog, params, token_table)
    items += 0.1 * rng.standard_normal(items.shape, dtype=np.float32)
    prefs = catalog.user_categories
    mask = (prefs >= 0)[..., None]
    users = (category[np.maximum(prefs, 0)] * mask).sum(axis=1) / mask.sum(axis=1)
    users += 0.3 * rng.standard_normal(users.shape, dtype=np.float32)
    bias = _BIAS_WEIGHT * np.log(catalog.item_popularity * len(catalog.item_popularity))
    items = _shuffled(_normalise(items), params)
    return {
        "item_embeddings": items,
        "user_embeddings": _normalise(users),
        "token_embeddings": token_table,
        "item_bias": bias.astype(np.float32),
    }


def _shuffled(items: np.ndarray, params: ModelParams) -> np.ndarray:
    """``items`` with ``shuffled_permille`` of its rows rotated among themselves: each chosen item
    gets another chosen item's embedding (the same rows every build of these params)."""
    count = len(items) * params.shuffled_permille // 1000
    if count < 2:
        return items
    chosen = np.random.default_rng(params.seed + 2).choice(len(items), count, replace=False)
    out = items.copy()
    out[chosen] = items[np.roll(chosen, 1)]
    return out


def _title_vectors(catalog: Catalog, params: ModelParams, table: np.ndarray) -> np.ndarray:
    out = np.zeros((len(catalog.item_title), params.dim), dtype=np.float32)
    for i, title in enumerate(catalog.item_title):
        ids = tokens(str(title), params.hash_buckets)
        out[i] = table[ids].sum(axis=0) / np.sqrt(len(ids))
    return out


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when a GPU is present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but no CUDA GPU is visible")
    return torch.device(device)


def candidates(k: int, items: int) -> int:
    """How many items the fp16 scan on a GPU keeps for exact float32 re-scoring.

    fp16 rounds a score near 1 to steps of about 5e-4, so items within a few steps of the
    k-th score may swap places in the scan; re-scoring a margin of candidates in float32
    gives the CPU's order and scores back. With the scan emulated on CPU over a 1M x 64
    catalog, the exact top-k of 2,000 queries always lay within the scan's top k + 2 (k = 20)
    to k + 14 (k = 1000), far inside this margin.
    """
    return min(items, 2 * k + 64)


class Recommender(torch.nn.Module):
    """Top-k recommend and search over shared item embeddings, on one device.

    ``scan`` picks how a batch is scored: ``fp32`` (the CPU default) scores every item in
    float32, exactly as the golden answers were recorded; ``fp16`` (the CUDA default) scans
    fp16 item embeddings once (half the bytes, tensor cores) and re-scores the few
    ``candidates`` in float32, so answers match the CPU's within float rounding while the
    whole batch stays on the device.
    """

    def __init__(self, weights: dict[str, np.ndarray], device: torch.device | str = "cpu", *, scan: str | None = None,
                 work: int = 1) -> None:  # fmt: skip
        super().__init__()
        self.work = work  # score every item this many times (a slow release that answers the same)
        dev = torch.device(device)
        self.items = torch.from_numpy(weights["item_embeddings"]).to(dev)
        self.users = torch.from_numpy(weights["user_embeddings"]).to(dev)
        self.table = torch.from_numpy(weights["token_embeddings"]).to(dev)
        self.bias = torch.from_numpy(weights["item_bias"]).to(dev)
        self.device = dev
        self.scan = scan or ("fp16" if dev.type == "cuda" else "fp32")
        if self.scan not in ("fp16", "fp32"):
            raise ValueError(f"scan must be fp16 or fp32, got {scan!r}")
        self.items16 = self.items.half() if self.scan == "fp16" else None
        self.bias16 = self.bias.half() if self.scan == "fp16" else None

    @torch.inference_mode()
    def recommend(self, user_ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k items for each user: ``(ids int64 [B, k], scores float32 [B, k])``."""
        users = self.users[self._upload(self._check(user_ids.numpy(force=True), k))]
        return self._top(users, k)

    @torch.inference_mode()
    def search(self, queries: list[str], user_ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k items for each query, tilted towards the user's taste."""
        users = self.users[self._upload(self._check(user_ids.numpy(force=True), k))]
        return self._top(self._queries(queries, users) + _PERSONALISATION * users, k)

    def recommend_host(self, user_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``recommend`` from and to host arrays, with one upload and one download per batch."""
        return self._download(*self.recommend(torch.from_numpy(user_ids), k))

    def search_host(self, queries: list[str], user_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``search`` from and to host arrays, with one upload and one download per batch."""
        return self._download(*self.search(queries, torch.from_numpy(user_ids), k))

    def _queries(self, queries: list[str], users: torch.Tensor) -> torch.Tensor:
        """Mean token vector of every query, normalised (an empty query: the user's own vector).

        Tokens are padded into one [B, L] index so the batch is one gather on the device;
        padding adds exact zeros, so the sums equal the per-query means bit for bit.
        """
        ids = [tokens(text, self.table.shape[0]) for text in queries]
        width = max(1, max((len(t) for t in ids), default=1))
        index = np.zeros((len(ids), width), dtype=np.int64)
        for row, t in enumerate(ids):
            index[row, : len(t)] = t
        counts = np.array([len(t) for t in ids], dtype=np.float32)
        mask = np.arange(width)[None, :] < counts[:, None]
        index_d, mask_d, counts_d = (self._upload(a) for a in (index, mask.astype(np.float32), counts))
        summed = (self.table[index_d] * mask_d[..., None]).sum(dim=1)
        vectors = summed / counts_d.clamp(min=1)[:, None]
        vectors = vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
        return torch.where((counts_d > 0)[:, None], vectors, users)

    def _top(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.work - 1):  # the same scores, computed again: real time on the device
            torch.topk(queries @ self.items.T + self.bias, k, dim=1)
        if self.scan == "fp16":
            return self._top_scan_and_rescore(queries, k)
        scores = queries @ self.items.T + self.bias
        top = torch.topk(scores, k, dim=1)
        return top.indices.to(torch.int64), top.values.to(torch.float32)

    def _top_scan_and_rescore(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.items16 is not None and self.bias16 is not None
        scanned = torch.addmm(self.bias16, queries.half(), self.items16.T)  # [B, items] fp16: one GEMM, bias fused
        picked = torch.topk(scanned, candidates(k, self.items.shape[0]), dim=1, sorted=False).indices
        exact = torch.bmm(self.items[picked], queries.unsqueeze(2)).squeeze(2) + self.bias[picked]
        top = torch.topk(exact, k, dim=1)
        return picked.gather(1, top.indices), top.values

    def _check(self, user_ids: np.ndarray, k: int) -> np.ndarray:
        """Validate on the host: a device-side min/max would cost a synchronisation per batch."""
        if not 1 <= k <= min(MAX_K, self.items.shape[0]):
            raise ValueError(f"k must be 1..{min(MAX_K, self.items.shape[0])}, got {k}")
        ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.users.shape[0]):
            raise ValueError(f"user_id must be 0..{self.users.shape[0] - 1}")
        return ids

    def _upload(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    def _download(self, ids: torch.Tensor, scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if self.device.type != "cuda":
            return ids.numpy(), scores.numpy()
        # Pinned buffers (torch caches them) let both copies run asynchronously; one wait.
        host = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in (ids, scores)]
        for target, source in zip(host, (ids, scores), strict=True):
            target.copy_(source, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return host[0].numpy(), host[1].numpy()
