"""Does a node answer the model's golden probes *identically*?

The smoke check through the gateway accepts 9 of 10 items in common. A restore must bring
back *the same* model, so this check is strict: the same items, each with its golden score
to within float rounding (1e-3 relative). The order then follows from the scores; only items
whose scores tie within that rounding may swap places (a GPU may order near-ties differently).

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
    golden = dict(zip(probe.item_ids, probe.scores, strict=True))
    got = dict(zip(reply.answer.item_ids, reply.answer.scores, strict=True))
    if set(got) != set(golden) or len(reply.answer.item_ids) != len(probe.item_ids):
        return f"{what}: items {list(reply.answer.item_ids[:3])}... differ from the golden {list(probe.item_ids[:3])}..."
    worst = max((abs(got[i] - s) / max(1.0, abs(s)) for i, s in golden.items()), default=0.0)
    if worst > SCORE_TOLERANCE:
        return f"{what}: scores differ from the golden ones by up to {worst:.2e} (relative)"
    return None
