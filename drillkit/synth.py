"""Synthesize realistic search/recommend traces from a model's catalog, deterministic from a seed.

What makes a trace realistic enough to judge a failover by:
- users and items follow Zipf-like popularity (a few users and items are most of the traffic);
- search queries come from the catalog's own title words and category names;
- sessions: a search, then a few recommends for the same user after short think times;
- the rate follows a diurnal curve (one compressed "day" per ``day_s``) with bursts on top.

>>> frame = synthesize(catalog, SynthOptions(duration_s=60, mean_rps=100, seed=1))  # doctest: +SKIP
>>> round(len(frame) / 60)                                                          # doctest: +SKIP
100
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from drillkit.model.catalog import Catalog
from drillkit.spec.safe import MAX_SECONDS

K_CHOICES = (10, 20, 50)
K_WEIGHTS = (0.8, 0.15, 0.05)
MAX_REQUESTS = 50_000_000  # a trace this long is already gigabytes in memory
_BIN_S = 0.01


@dataclass(frozen=True)
class SynthOptions:
    """Knobs of the synthesizer; validated when built."""

    duration_s: float = 60.0
    mean_rps: float = 50.0
    search_share: float = 0.3  # share of requests that are searches (the rest: recommends)
    seed: int = 1
    user_zipf: float = 1.1  # exponent of user popularity (> 1)
    diurnal_amplitude: float = 0.5  # 0 = flat, 0.5 = peak 3x the trough
    day_s: float | None = None  # length of one compressed day; default: the whole duration
    bursts: int = 2
    burst_factor: float = 3.0
    burst_s: float = 3.0
    think_time_s: float = 1.0  # mean pause between requests of a session

    def __post_init__(self) -> None:
        checks = {
            "duration_s": self.duration_s > 0, "mean_rps": self.mean_rps > 0,
            "search_share": 0.0 <= self.search_share <= 1.0, "user_zipf": self.user_zipf > 1.0,
            "diurnal_amplitude": 0.0 <= self.diurnal_amplitude < 1.0, "bursts": self.bursts >= 0,
            "burst_factor": self.burst_factor >= 1.0, "burst_s": self.burst_s > 0, "think_time_s": self.think_time_s > 0,
            # finite and bounded: `--duration inf` or a billion requests would never finish
            "duration_s * mean_rps": self.duration_s * self.mean_rps <= MAX_REQUESTS,
            "day_s": self.day_s is None or 0 < self.day_s <= MAX_SECONDS,
        }  # fmt: skip
        numbers = [v for v in vars(self).values() if isinstance(v, float | int)]
        checks["finite numbers"] = all(math.isfinite(v) for v in numbers)
        checks["duration_s <= 7 days"] = self.duration_s <= MAX_SECONDS
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid synth options: {', '.join(bad)} (see `drillkit traffic synth --help`)")


def rate_curve(options: SynthOptions, times_s: np.ndarray, burst_starts: np.ndarray) -> np.ndarray:
    """Requests per second at ``times_s``; its mean over the duration is ``mean_rps``."""
    day = options.day_s or options.duration_s
    # Starts at the trough and peaks half a day later, like a night-to-evening ramp.
    shape = 1.0 - options.diurnal_amplitude * np.cos(2 * math.pi * times_s / day)
    for start in burst_starts:
        shape = np.where((times_s >= start) & (times_s < start + options.burst_s), shape * options.burst_factor, shape)
    in_window = (times_s >= 0) & (times_s < options.duration_s)
    return options.mean_rps * shape / shape[in_window].mean()


def synthesize(catalog: Catalog, options: SynthOptions) -> pd.DataFrame:
    """A trace frame (``drillkit.trace`` columns), sorted by offset."""
    rng = np.random.default_rng(options.seed)
    # Sessions also start in a lead-in before 0, so that their later requests fill the start
    # as the sessions cut off at the end would have: the rate holds its mean to the edges.
    lead = 10 * options.think_time_s
    bins = np.arange(-lead, options.duration_s, _BIN_S)
    bursts = np.sort(rng.uniform(0, max(options.duration_s - options.burst_s, 0.0), options.bursts))
    rate = rate_curve(options, bins, bursts)
    per_session = 1.0 / options.search_share if options.search_share > 0 else 1.0
    starts = _arrivals(rng, bins, rate / per_session)
    users = _zipf_users(rng, len(starts), catalog.users, options.user_zipf)
    frames = [_sessions(rng, catalog, options, starts, users)]
    trace = pd.concat(frames, ignore_index=True)
    trace = trace[(trace["offset_s"] >= 0) & (trace["offset_s"] < options.duration_s)]
    trace["offset_s"] = trace["offset_s"].round(4)  # 0.1 ms: finer than any clock we replay on
    return trace.sort_values("offset_s", kind="stable").reset_index(drop=True)


def _arrivals(rng: np.random.Generator, bins: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """A non-homogeneous Poisson process: Poisson counts per 10 ms bin, uniform within it."""
    counts = rng.poisson(rate * _BIN_S)
    starts = np.repeat(bins, counts)
    return np.sort(starts + rng.uniform(0, _BIN_S, len(starts)))


def _zipf_users(rng: np.random.Generator, n: int, users: int, exponent: float) -> np.ndarray:
    """User ids with Zipf popularity: rank r drawn with p ~ r^-exponent, ranks mapped to ids."""
    ranks = rng.zipf(exponent, n)
    while (over := ranks > users).any():  # truncate the unbounded tail by redrawing
        ranks[over] = rng.zipf(exponent, int(over.sum()))
    # An affine bijection of 0..users-1 hides the ranks (user 0 is not the busiest) without
    # an O(users) permutation table, so this scales to 100M users.
    step = _coprime_step(users, rng)
    return ((ranks - 1) * step + int(rng.integers(users))) % users


def _coprime_step(n: int, rng: np.random.Generator) -> int:
    while True:
        step = int(rng.integers(1, max(n, 2)))
        if math.gcd(step, n) == 1:
            return step


def _sessions(
    rng: np.random.Generator, catalog: Catalog, options: SynthOptions, starts: np.ndarray, users: np.ndarray
) -> pd.DataFrame:
    n = len(starts)
    share = options.search_share
    if share > 0:
        recommends = rng.geometric(share, n) - 1  # mean (1 - share) / share, so the mix is `share`
    else:
        recommends = np.ones(n, dtype=np.int64)
    has_search = share > 0
    sizes = recommends + (1 if has_search else 0)
    session = np.repeat(np.arange(n), sizes)
    position = np.arange(len(session)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    pauses = np.where(position == 0, 0.0, rng.exponential(options.think_time_s, len(session)))
    offsets = np.repeat(starts, sizes) + _cumsum_within(pauses, sizes)
    kinds = np.where((position == 0) & has_search, "search", "recommend")
    queries = np.full(len(session), "", dtype=object)
    is_search = kinds == "search"
    queries[is_search] = _queries(rng, catalog, int(is_search.sum()))
    return pd.DataFrame(
        {
            "offset_s": offsets,
            "kind": kinds,
            "user_id": np.repeat(users, sizes),
            "query": queries,
            "k": rng.choice(K_CHOICES, len(session), p=K_WEIGHTS),
            "session_id": np.char.add("s", session.astype(str)),
        }
    )


def _cumsum_within(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    before = np.repeat(total[np.cumsum(sizes) - sizes] - values[np.cumsum(sizes) - sizes], sizes)
    return total - before


def _queries(rng: np.random.Generator, catalog: Catalog, n: int) -> np.ndarray:
    """Search texts: 1-2 words of a popular item's title, or a category name (20%)."""
    items = rng.choice(len(catalog.item_title), n, p=catalog.item_popularity / catalog.item_popularity.sum())
    out = np.empty(n, dtype=object)
    by_category = rng.random(n) < 0.2
    lengths = rng.integers(1, 3, n)
    for i, item in enumerate(items):
        if by_category[i]:
            out[i] = catalog.category_names[int(catalog.item_category[item])]
            continue
        words = str(catalog.item_title[item]).split()
        pick = rng.choice(len(words), min(int(lengths[i]), len(words)), replace=False)
        out[i] = " ".join(words[j] for j in sorted(pick))
    return out
