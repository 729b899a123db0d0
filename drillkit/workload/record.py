"""Record golden answers from one healthy node: ``drillkit golden record``.

Each probe request goes to one node straight (outside the gateway, so the answer is known to
come from it), twice: an output that answers differently twice in a row under its rule is
not a golden answer, and the recording stops with the output's name and the fix (a looser
``--rule``). Probe inputs come from a trace (the requests users send), from the built-in
recommender's own probe set, or are made up from the model's metadata.

>>> golden = record(url, [Request("ranker", inputs)], version="r1", manifest_sha256=sha)  # doctest: +SKIP
>>> golden.rules["ranker"]["score"]                                                       # doctest: +SKIP
Tolerance(rule='tolerance', abs=1e-06, rel=0.001)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from drillkit.errors import ComponentError, SpecError
from drillkit.model.client import InferenceClient, encode_infer
from drillkit.workload.golden import Exact, GoldenProbe, GoldenSet, Tolerance, TopK, rules_for
from drillkit.workload.metadata import ModelMetadata, fetch_metadata, mismatch, synthesize
from drillkit.workload.tensors import Tensor, utf8

MAX_COUNT = 1000


@dataclass(frozen=True)
class Request:
    """One probe request: a model, an optional Triton version, and its inputs."""

    model: str
    inputs: tuple[Tensor, ...]
    version: str | None = None
    where: str = ""  # where the request came from (a trace row), for errors


def synthesized(metadata: Mapping[str, ModelMetadata], count: int, *, seed: int = 12345) -> list[Request]:
    """``count`` made-up requests per model (models taking turns)."""
    rng = np.random.default_rng(seed)
    return [Request(m, synthesize(meta, rng), where=f"made up from the metadata of {m}")
            for _ in range(count) for m, meta in metadata.items()]  # fmt: skip


def spread(requests: Sequence[Request], count: int) -> list[Request]:
    """``count`` requests of each model taken evenly across ``requests`` (a trace, in order)."""
    by_model: dict[str, list[Request]] = {}
    for r in requests:
        by_model.setdefault(r.model, []).append(r)
    chosen = []
    for rows in by_model.values():
        step = max(1, len(rows) // count)
        chosen.append(rows[::step][:count])
    longest = max((len(c) for c in chosen), default=0)
    return [c[i] for i in range(longest) for c in chosen if i < len(c)]


def record(
    url: str,
    requests: Sequence[Request],
    *,
    version: str,
    manifest_sha256: str,
    overrides: Mapping[str, Exact | Tolerance | TopK] | None = None,
    metadata: Mapping[str, ModelMetadata] | None = None,
    timeout_s: float = 10.0,
) -> GoldenSet:
    """Send every request to the node at ``url`` twice; the golden set of its answers."""
    if not requests:
        raise SpecError("--count", "count", "no probe request to record", "pass --count 1 or more, or a trace with rows")
    metadata = dict(metadata or {})
    for model in dict.fromkeys(r.model for r in requests):
        metadata.setdefault(model, fetch_metadata(url, model, timeout_s=timeout_s))
    client = InferenceClient(url, timeout_s=timeout_s)
    probes: list[GoldenProbe] = []
    try:
        for request in requests:
            meta = metadata[request.model]
            problem = mismatch(meta, request.inputs)
            if problem:
                raise SpecError(request.where or "probe", request.model, problem, "send the inputs the model declares")
            outputs = [t.name for t in meta.outputs]
            encoded = encode_infer(request.model, [(t.name, t.datatype, t.array) for t in request.inputs],
                                   outputs=outputs, version=request.version)  # fmt: skip
            first, second = _answer(client, encoded, request), _answer(client, encoded, request)
            answer = tuple(Tensor.from_numpy(name, first[name]) for name in outputs)
            probes.append(GoldenProbe(len(probes), request.model, request.version, request.inputs, answer))
            _same_twice(probes[-1], second, overrides or {})
    finally:
        client.close()
    for p in probes:
        for t in (*p.inputs, *p.outputs):
            if t.datatype == "BYTES" and not utf8(t.array):
                raise ComponentError(f"{p.label}: {t.name} holds bytes that are not UTF-8 text; golden.json keeps BYTES as text")
    rules = rules_for(probes, overrides or {})
    return GoldenSet(version, manifest_sha256, tuple(probes), rules, source=url,
                     recorded_at=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip


def _answer(client: InferenceClient, encoded: object, request: Request) -> Mapping[str, np.ndarray]:
    reply = client.send(encoded)  # type: ignore[arg-type]
    if reply.error is not None or reply.outputs is None:
        raise ComponentError(f"the node at {client.host}:{client.port} failed a probe of {request.model} "
                             f"({request.where or 'probe'}): {reply.error}")  # fmt: skip
    return reply.outputs


def _same_twice(probe: GoldenProbe, second: Mapping[str, np.ndarray], overrides: Mapping[str, Exact | Tolerance | TopK]) -> None:
    golden = GoldenSet("", "", (probe,), rules_for([probe], overrides))
    for output in probe.outputs:
        difference = golden.rule(probe.model, output).difference(output.array, np.asarray(second[output.name]))
        if difference:
            raise ComponentError(
                f"{probe.label}: {output.name}: {difference}, between two answers to the same request in a row: "
                f"not a golden answer. Give it a looser rule, e.g. --rule {probe.model}/{output.name}=tolerance:1e-4:1e-3"
            )
    difference = golden.compare(probe, second)  # what the rules pair across outputs (ids with their scores)
    if difference:
        raise ComponentError(f"{difference}, between two answers to the same request in a row: not a golden answer")
