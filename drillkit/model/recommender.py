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
    return {
        "item_embeddings": _normalise(items),
        "user_embeddings": _normalise(users),
        "token_embeddings": token_table,
        "item_bias": bias.astype(np.float32),
    }


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


class Recommender(torch.nn.Module):
    """Top-k recommend and search over shared item embeddings, on one device."""

    def __init__(self, weights: dict[str, np.ndarray], device: torch.device | str = "cpu") -> None:
        super().__init__()
        dev = torch.device(device)
        self.items = torch.from_numpy(weights["item_embeddings"]).to(dev)
        self.users = torch.from_numpy(weights["user_embeddings"]).to(dev)
        self.table = torch.from_numpy(weights["token_embeddings"]).to(dev)
        self.bias = torch.from_numpy(weights["item_bias"]).to(dev)
        self.device = dev

    @torch.inference_mode()
    def recommend(self, user_ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k items for each user: ``(ids int64 [B, k], scores float32 [B, k])``."""
        users = self.users[self._check(user_ids, k)]
        return self._top(users, k)

    @torch.inference_mode()
    def search(self, queries: list[str], user_ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k items for each query, tilted towards the user's taste."""
        users = self.users[self._check(user_ids, k)]
        q = torch.stack([self._query(text, users[i]) for i, text in enumerate(queries)])
        return self._top(q + _PERSONALISATION * users, k)

    def _query(self, text: str, user: torch.Tensor) -> torch.Tensor:
        ids = tokens(text, self.table.shape[0])
        if not ids:
            return user  # an empty or unreadable query falls back to the user's taste
        vector = self.table[torch.tensor(ids, device=self.device)].mean(dim=0)
        return vector / vector.norm()

    def _top(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        scores = queries @ self.items.T + self.bias
        top = torch.topk(scores, k, dim=1)
        return top.indices.to(torch.int64), top.values.to(torch.float32)

    def _check(self, user_ids: torch.Tensor, k: int) -> torch.Tensor:
        if not 1 <= k <= min(MAX_K, self.items.shape[0]):
            raise ValueError(f"k must be 1..{min(MAX_K, self.items.shape[0])}, got {k}")
        ids = user_ids.to(self.device, torch.int64).reshape(-1)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.users.shape[0]):
            raise ValueError(f"user_id must be 0..{self.users.shape[0] - 1}")
        return ids
