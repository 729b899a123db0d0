"""A synthetic e-commerce catalog and its users, deterministic from a seed.

Titles are drawn from per-category word distributions, so items of one category share words
and a search for a word finds the items that carry it. Everything is vectorised numpy, so
millions of items build in seconds.

>>> catalog = make_catalog(ModelParams(items=1_000, users=100, seed=3))
>>> len(catalog.item_title), catalog.users
(1000, 100)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "to", "sa", "vi", "de", "po", "zu", "fa", "ri", "mo", "te", "lu", "ba", "ko")


@dataclass(frozen=True)
class ModelParams:
    """Size and seed of the synthetic model; validated when built.

    Two knobs make a *bad release* of the same model, for rollout drills: ``shuffled_permille``
    gives that share of the items (per mille) another item's embedding (stale embeddings or a
    broken export: fast, wrong answers), and ``work`` scores every item that many times
    (a slower model that answers the same).
    """

    items: int = 50_000
    dim: int = 64
    users: int = 10_000
    categories: int = 48
    vocab_size: int = 3_000
    hash_buckets: int = 16_384
    seed: int = 7
    shuffled_permille: int = 0
    work: int = 1

    def __post_init__(self) -> None:
        limits = {
            "items": (100, 20_000_000), "dim": (8, 1024), "users": (10, 100_000_000),
            "categories": (2, 10_000), "vocab_size": (50, 1_000_000), "hash_buckets": (256, 4_194_304),
            "seed": (0, 2**63 - 1), "shuffled_permille": (0, 1000), "work": (1, 100),
        }  # fmt: skip
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"ModelParams.{name} = {value} is outside {low}..{high}")


@dataclass(frozen=True)
class Catalog:
    """Items (category, popularity, title) and users (preferred categories)."""

    category_names: list[str]
    vocabulary: list[str]
    item_category: np.ndarray  # int32 [items]
    item_popularity: np.ndarray  # float32 [items], sums to 1 (Zipf-like)
    item_title: np.ndarray  # object (str) [items]
    user_categories: np.ndarray  # int32 [users, 3]; -1 pads users with fewer preferences

    @property
    def users(self) -> int:
        return len(self.user_categories)


def make_catalog(params: ModelParams) -> Catalog:
    """Build the catalog for ``params`` (same params, same catalog, bit for bit)."""
    rng = np.random.default_rng(params.seed)
    vocabulary = _words(rng, params.vocab_size)
    categories = [f"{w}{i}" for i, w in enumerate(_words(rng, params.categories))]
    item_category = rng.integers(0, params.categories, params.items).astype(np.int32)
    ranks = rng.permutation(params.items) + 1
    popularity = (1.0 / ranks.astype(np.float64) ** 0.9).astype(np.float32)
    return Catalog(
        category_names=categories,
        vocabulary=vocabulary,
        item_category=item_category,
        item_popularity=popularity / popularity.sum(),
        item_title=_titles(rng, params, vocabulary, categories, item_category),
        user_categories=_user_categories(rng, params),
    )


def _words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct pronounceable words of 2-4 syllables."""
    words: dict[str, None] = {}
    while len(words) < n:
        count = rng.integers(2, 5, n)
        picks = rng.integers(0, len(_SYLLABLES), (n, 4))
        for length, row in zip(count, picks, strict=True):
            words.setdefault("".join(_SYLLABLES[i] for i in row[:length]), None)
            if len(words) == n:
                break
    return list(words)


def _titles(
    rng: np.random.Generator, params: ModelParams, vocabulary: list[str], categories: list[str], item_category: np.ndarray
) -> np.ndarray:
    # Each category owns a slice of the vocabulary that its titles mostly draw from.
    per_category = max(8, params.vocab_size // params.categories)
    offsets = rng.integers(0, params.vocab_size, params.categories)
    lengths = rng.integers(3, 7, params.items)
    local = rng.integers(0, per_category, (params.items, 6))
    own = (offsets[item_category][:, None] + local) % params.vocab_size
    anywhere = rng.integers(0, params.vocab_size, (params.items, 6))
    words = np.where(rng.random((params.items, 6)) < 0.8, own, anywhere)
    vocab = np.asarray(vocabulary, dtype=object)
    names = np.asarray(categories, dtype=object)
    titles = np.empty(params.items, dtype=object)
    for i in range(params.items):  # string joins: the one loop, ~1 s per million items
        titles[i] = " ".join([names[item_category[i]], *vocab[words[i, : lengths[i] - 1]]])
    return titles


def _user_categories(rng: np.random.Generator, params: ModelParams) -> np.ndarray:
    prefs = rng.integers(0, params.categories, (params.users, 3)).astype(np.int32)
    count = rng.integers(1, 4, params.users)
    prefs[np.arange(3)[None, :] >= count[:, None]] = -1
    return prefs


def save_catalog(catalog: Catalog, folder: Path) -> None:
    """Write the catalog as Parquet tables plus a small JSON of names."""
    folder.mkdir(parents=True, exist_ok=True)
    items = pd.DataFrame(
        {"category": catalog.item_category, "popularity": catalog.item_popularity, "title": catalog.item_title.astype(str)}
    )
    items.to_parquet(folder / "items.parquet", index=False)
    pd.DataFrame(catalog.user_categories, columns=["pref0", "pref1", "pref2"]).to_parquet(folder / "users.parquet", index=False)
    names = {"categories": catalog.category_names, "vocabulary": catalog.vocabulary}
    (folder / "names.json").write_text(json.dumps(names))


def load_catalog(folder: Path) -> Catalog:
    """Read a catalog written by ``save_catalog`` (e.g. ``<version>/catalog``)."""
    items = pd.read_parquet(folder / "items.parquet")
    users = pd.read_parquet(folder / "users.parquet")
    names = json.loads((folder / "names.json").read_text())
    return Catalog(
        category_names=names["categories"],
        vocabulary=names["vocabulary"],
        item_category=items["category"].to_numpy(np.int32),
        item_popularity=items["popularity"].to_numpy(np.float32),
        item_title=items["title"].to_numpy(object),
        user_categories=users.to_numpy(np.int32),
    )
