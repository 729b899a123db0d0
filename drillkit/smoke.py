"""Golden probes through the gateway: is the right model answering, and who answers?

A region that answers fast with a stale or corrupted model is not healthy, so readiness is
not enough: these probes replay the version's golden set and judge every answer by its
outputs' rules (``drillkit.workload.golden``).

>>> results = run_probes("http://127.0.0.1:8000", golden)   # doctest: +SKIP
>>> all(r.ok for r in results)                              # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from drillkit.errors import StartupError
from drillkit.model.client import InferenceClient
from drillkit.spec import EnvironmentSpec, model_cache
from drillkit.workload.golden import GoldenProbe, GoldenSet, golden_of


@dataclass(frozen=True)
class ProbeResult:
    """One golden probe's outcome: ``wrong`` says how the answer differs from the golden one."""

    model: str
    request: str
    node: str | None
    region: str | None
    latency_ms: float
    wrong: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.wrong is None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def run_probes(url: str, golden: GoldenSet, *, limit: int | None = None, timeout_s: float = 5.0) -> list[ProbeResult]:
    """Send every golden probe (or the first ``limit`` of each model) through ``url``."""
    client = InferenceClient(url, timeout_s=timeout_s)
    probes = golden.first_of_each(limit) if limit is not None else list(golden.probes)
    try:
        return [send_probe(client, golden, probe) for probe in probes]
    finally:
        client.close()


def send_probe(client: InferenceClient, golden: GoldenSet, probe: GoldenProbe) -> ProbeResult:
    """Send one golden probe and judge the answer by the golden rules."""
    reply = client.send(probe.request)
    wrong = golden.compare(probe, reply.outputs) if reply.error is None and reply.outputs is not None else None
    return ProbeResult(probe.model, probe.label, reply.node, reply.region, reply.latency_s * 1e3, wrong, reply.error)


def probe_gateway(url: str, spec: EnvironmentSpec) -> list[ProbeResult]:
    """All golden probes of the environment's model version through its gateway."""
    return run_probes(url, golden_of(model_cache(spec) / spec.model.version))


def verify_gateway(url: str, golden: GoldenSet) -> None:
    """Raise StartupError unless a few golden probes through the gateway answer correctly."""
    wrong = [r for r in run_probes(url, golden, limit=2) if not r.ok]
    if wrong:
        details = "; ".join(r.error or r.wrong or "" for r in wrong)
        raise StartupError(f"the gateway at {url} does not serve the golden answers: {details}")
