"""Does a node answer the model's golden probes *identically*?

The smoke check through the gateway accepts 9 of 10 items in common (a GPU may order
near-ties differently). A restore must bring back *the same* model, so this check is
strict: the same items in the same order, and scores equal to within float rounding.

>>> golden_identical("http://127.0.0.1:8000", verify(Path("regions/primary/models/v1")))  # doctest: +SKIP
(True, '32 golden probes answered identically')
"""

from __future__ import annotations

from drillkit.model.client import RecommenderClient, Reply
from drillkit.model.repository import Manifest, RecommendProbe, SearchProbe

SCORE_TOLERANCE = 1e-3  # relative: float32 scores from another device or batch size


def golden_identical(url: str, manifest: Manifest, *, timeout_s: float = 10.0) -> tuple[bool, str]:
    """Send every golden probe to ``url``; (all identical, a detail naming the first difference)."""
    client = RecommenderClient(url, timeout_s=timeout_s)
    probes = [*manifest.golden.recommend, *manifest.golden.search]
    try:
        for probe in probes:
            difference = _difference(probe, _ask(client, probe))
            if difference:
                return False, difference
    finally:
        client.close()
    return True, f"{len(probes)} golden probes answered identically"


def _ask(client: RecommenderClient, probe: RecommendProbe | SearchProbe) -> Reply:
    if isinstance(probe, SearchProbe):
        return client.search(probe.query, probe.user_id, probe.k)
    return client.recommend(probe.user_id, probe.k)


def _difference(probe: RecommendProbe | SearchProbe, reply: Reply) -> str | None:
    what = f"search {probe.query!r}" if isinstance(probe, SearchProbe) else "recommend"
    what += f" user {probe.user_id}"
    if reply.error is not None or reply.answer is None:
        return f"{what}: {reply.error}"
    if reply.answer.item_ids != tuple(probe.item_ids):
        return f"{what}: items {list(reply.answer.item_ids[:3])}... differ from the golden {list(probe.item_ids[:3])}..."
    worst = max((abs(a - b) / max(1.0, abs(b)) for a, b in zip(reply.answer.scores, probe.scores, strict=True)), default=0.0)
    if worst > SCORE_TOLERANCE:
        return f"{what}: scores differ from the golden ones by up to {worst:.2e} (relative)"
    return None
