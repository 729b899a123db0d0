"""A trace's rows as inference requests, encoded once and cached: what the load generator sends,
and what a rollout's comparison and answer audit send again (no Locust here: they run in the
drill's own process).

>>> rows_of(read_trace(Path("loadtests/traces/drill.parquet"))).request(0).path   # doctest: +SKIP
'/v2/models/recommend/infer'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from drillkit.model.client import EncodedRequest, encode_recommend, encode_search
from drillkit.trace import Trace
from drillkit.workload.trace import encode_row


def rows_of(trace: Trace) -> Rows | KserveRows:
    """The trace's rows, ready to encode (recsys columns or KServe v2 rows)."""
    return Rows.of(trace) if trace.format == "recsys" else KserveRows.of(trace)


@dataclass(frozen=True)
class Rows:
    """A recsys trace's columns as plain lists: indexing a DataFrame row costs ~30 us per request."""

    kind: list[str]
    user_id: list[int]
    query: list[str]
    k: list[int]

    @classmethod
    def of(cls, trace: Trace) -> Rows:
        f = trace.frame
        return cls(f["kind"].tolist(), f["user_id"].tolist(), f["query"].tolist(), f["k"].tolist())

    def request(self, i: int) -> EncodedRequest:
        return _encoded(self.kind[i], self.user_id[i], self.query[i], self.k[i])


@dataclass(frozen=True)
class KserveRows:
    """A KServe v2 trace's rows: the model (the ``kind`` label), its version and inputs (JSON)."""

    kind: list[str]
    version: list[str]
    inputs: list[str]

    @classmethod
    def of(cls, trace: Trace) -> KserveRows:
        f = trace.frame
        return cls(f["kind"].tolist(), f["version"].tolist(), f["inputs"].tolist())

    def request(self, i: int) -> EncodedRequest:
        return _kserve_encoded(self.kind[i], self.version[i], self.inputs[i])


@lru_cache(maxsize=65_536)
def _encoded(kind: str, user_id: int, query: str, k: int) -> EncodedRequest:
    # Popular users and queries repeat (Zipf), so most requests reuse tritonclient's bytes.
    return encode_search(query, user_id, k) if kind == "search" else encode_recommend(user_id, k)


_kserve_encoded = lru_cache(maxsize=65_536)(encode_row)  # rows that repeat reuse their bytes
