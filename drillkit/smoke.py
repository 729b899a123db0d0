"""Golden probes through the gateway: is the right model answering, and who answers?

A region that answers fast with a stale or corrupted model is not healthy, so readiness is
not enough: these probes replay the manifest's fixed probe set and compare the top-k.

>>> results = run_probes("http://127.0.0.1:8000", verify(Path(".drillkit/models/v1")))  # doctest: +SKIP
>>> all(r.ok for r in results)                                                       # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from drillkit.errors import StartupError
from drillkit.model.client import RecommenderClient, Reply
from drillkit.model.repository import Manifest, RecommendProbe, SearchProbe, verify
from drillkit.spec import EnvironmentSpec

# GPU kernels may order near-ties differently from the CPU that recorded the golden
# answers; 9 of 10 items in common is still the same model, a different model shares ~none.
MIN_OVERLAP = 0.9


@dataclass(frozen=True)
class ProbeResult:
    """One golden probe's outcome."""

    model: str
    request: str
    node: str | None
    region: str | None
    latency_ms: float
    overlap: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.overlap >= MIN_OVERLAP

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def run_probes(url: str, manifest: Manifest, *, limit: int | None = None) -> list[ProbeResult]:
    """Send every golden probe (or the first ``limit`` of each model) through ``url``."""
    client = RecommenderClient(url)
    probes = [*manifest.golden.recommend[:limit], *manifest.golden.search[:limit]]
    return [send_probe(client, probe) for probe in probes]


def send_probe(client: RecommenderClient, probe: RecommendProbe | SearchProbe) -> ProbeResult:
    """Send one golden probe and compare its top-k with the recorded answer."""
    if isinstance(probe, SearchProbe):
        reply = client.search(query=probe.query, user_id=probe.user_id, k=probe.k)
        return _result("search", f"{probe.query!r} user {probe.user_id}", reply, probe.item_ids)
    reply = client.recommend(user_id=probe.user_id, k=probe.k)
    return _result("recommend", f"user {probe.user_id} k={probe.k}", reply, probe.item_ids)


def probe_gateway(url: str, spec: EnvironmentSpec) -> list[ProbeResult]:
    """All golden probes of the environment's model version through its gateway."""
    return run_probes(url, verify(spec.state_dir / "models" / spec.model.version))


def verify_gateway(url: str, manifest: Manifest) -> None:
    """Raise StartupError unless a few golden probes through the gateway answer correctly."""
    wrong = [r for r in run_probes(url, manifest, limit=2) if not r.ok]
    if wrong:
        details = "; ".join(f"{r.model} {r.request}: {r.error or f'overlap {r.overlap:.2f}'}" for r in wrong)
        raise StartupError(f"the gateway at {url} does not serve the golden answers: {details}")


def _result(model: str, request: str, reply: Reply, golden: tuple[int, ...] | list[int]) -> ProbeResult:
    got = reply.answer.item_ids if reply.answer is not None else ()
    overlap = len(set(got) & set(golden)) / max(1, len(golden))
    return ProbeResult(model, request, reply.node, reply.region, reply.latency_s * 1e3, overlap, reply.error)
