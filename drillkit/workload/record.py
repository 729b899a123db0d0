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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drillkit.errors import ComponentError, SpecError
from drillkit.model.client import InferenceClient, encode_infer
from drillkit.model.repository import Manifest, verify
from drillkit.platforms.base import ComponentStatus, EnvironmentStatus, Health
from drillkit.spec import model_cache
from drillkit.workload.golden import (
    ATTACHED,
    RECOMMENDER_RULES,
    Exact,
    GoldenProbe,
    GoldenSet,
    Tolerance,
    TopK,
    from_builtin,
    rules_for,
    write_golden,
)
from drillkit.workload.metadata import ModelMetadata, fetch_metadata, mismatch, synthesize
from drillkit.workload.tensors import Tensor, utf8
from drillkit.workload.trace import Request

if TYPE_CHECKING:
    from drillkit.platforms.base import Platform

MAX_COUNT = 1000
Rule = Exact | Tolerance | TopK


def synthesized(metadata: Mapping[str, ModelMetadata], count: int, *, seed: int = 12345) -> list[Request]:
    """``count`` made-up requests per model (models taking turns)."""
    rng = np.random.default_rng(seed)
    return [Request(m, synthesize(meta, rng), where=f"made up from the metadata of {m}")
            for _ in range(count) for m, meta in metadata.items()]  # fmt: skip


def builtin(manifest: Manifest) -> list[Request]:
    """The built-in recommender's probe requests: the inputs of its manifest's probe set."""
    return [Request(p.model, p.inputs, where=f"built-in {p.label}") for p in from_builtin(manifest).probes]


def probe_requests(manifest: Manifest, metadata: Mapping[str, ModelMetadata], count: int,
                   trace: Sequence[Request] | None = None) -> list[Request]:  # fmt: skip
    """``count`` probe requests per model: from ``trace`` (spread across it), else the built-in
    recommender's own probes, else made up from the models' metadata."""
    if not 1 <= count <= MAX_COUNT:
        raise SpecError("command line", "--count", f"{count} probes per model", f"pass 1 to {MAX_COUNT}")
    if trace is not None:
        return spread(trace, count)
    if manifest.workload == "recommender":
        return spread(builtin(manifest), count)
    return synthesized({m: metadata[m] for m in manifest.models}, count)


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


@dataclass(frozen=True)
class Recorded:
    """What ``drillkit golden record`` did: the golden set, the node it came from, where it went."""

    golden: GoldenSet
    node: str
    written: tuple[Path, ...]


def record_environment(platform: Platform, *, node: str | None = None, count: int = 8,
                       overrides: Mapping[str, Rule] | None = None, trace: Sequence[Request] | None = None) -> Recorded:  # fmt: skip
    """Record the environment's golden answers from one healthy node and put them in place: the
    version in the model cache, every copy a region holds, and what the platform derives from
    them (the gateway's deep check, per-try timeouts)."""
    from drillkit.drill import drill_lock

    with drill_lock(platform):  # a drill's faults would be recorded as the golden answers
        return _record_environment(platform, node=node, count=count, overrides=overrides, trace=trace)


def _record_environment(platform: Platform, *, node: str | None, count: int, overrides: Mapping[str, Rule] | None,
                        trace: Sequence[Request] | None) -> Recorded:  # fmt: skip
    from drillkit.platforms import require_up

    spec = platform.spec
    status = require_up(platform)
    if spec.attached:
        return _record_attached(platform, status.gateway_url or "", count=count, overrides=overrides, trace=trace)
    target = pick_node(status, spec.primary.name, node)
    url = target.endpoint or ""
    version_dir = model_cache(spec) / spec.model.version
    manifest = verify(version_dir)
    metadata = {m: fetch_metadata(url, m) for m in manifest.models}
    requests = probe_requests(manifest, metadata, count, trace)
    rules: dict[str, Rule] = {}
    if manifest.workload == "recommender":  # its own tolerances, not the defaults for ints and floats
        rules = {f"{m}/{o}": r for m, rs in RECOMMENDER_RULES.items() for o, r in rs.items()}
    golden = record(url, requests, version=manifest.version, manifest_sha256=manifest.sha256,
                    overrides={**rules, **(overrides or {})}, metadata=metadata)  # fmt: skip
    written = [write_golden(version_dir, golden), *platform.adopt_golden(golden)]
    return Recorded(golden, target.name, tuple(written))


def _record_attached(platform: Platform, url: str, *, count: int, overrides: Mapping[str, Rule] | None,
                     trace: Sequence[Request] | None) -> Recorded:  # fmt: skip
    """Attach mode: the answers of the user's healthy service, through its global endpoint, to the
    requests of a captured trace (no manifest to take probes from: the trace is required)."""
    if trace is None:
        raise SpecError("command line", "--trace", "attach mode records the answers your service gives to your requests",
                        "pass --trace with a trace of them (drillkit traffic import)")  # fmt: skip
    if not 1 <= count <= MAX_COUNT:
        raise SpecError("command line", "--count", f"{count} probes per model", f"pass 1 to {MAX_COUNT}")
    requests = spread(trace, count)
    metadata = {m: fetch_metadata(url, m) for m in dict.fromkeys(r.model for r in requests)}
    golden = record(url, requests, version=platform.spec.model.version, manifest_sha256=ATTACHED, overrides=overrides,
                    metadata=metadata)  # fmt: skip
    version_dir = model_cache(platform.spec) / platform.spec.model.version
    version_dir.mkdir(parents=True, exist_ok=True)
    return Recorded(golden, "gateway", (write_golden(version_dir, golden),))


def pick_node(status: EnvironmentStatus, primary: str, name: str | None) -> ComponentStatus:
    """The node ``name``, else the first ready node of the ``primary`` region: ready and UP at
    the gateway, so the answers come from a node users are served by."""
    nodes = status.nodes()
    if name is not None:
        found = next((n for n in nodes if n.name == name), None)
        if found is None:
            raise SpecError("command line", "--node", f"no node {name} in environment {status.environment}",
                            f"pass one of {', '.join(n.name for n in nodes)}")  # fmt: skip
        if found.health is not Health.READY:
            raise ComponentError(f"node {name} is {found.health.value}, not ready: record from a healthy node")
        return found
    ready = [n for n in nodes if n.region == primary and n.health is Health.READY and n.gateway_state == "UP"]
    if not ready:
        raise ComponentError(f"no node of region {primary} is ready and UP at the gateway: record from a healthy "
                             "node (pass --node), or bring the environment back first")  # fmt: skip
    return ready[0]


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
