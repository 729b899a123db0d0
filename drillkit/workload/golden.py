"""Golden answers: probe requests with the answers a healthy deployment gave, and per-output rules.

``golden.json`` lies beside a version's ``manifest.json``. It names the manifest it was
recorded against (its sha256), so answers recorded for one version are never taken as the
truth for another. Each output of each model has a rule:

| rule | passes when |
|---|---|
| ``exact`` | the same shape and every element equal |
| ``tolerance`` | the same shape and ``|got - want| <= abs + rel x |want|`` everywhere (NaN only where NaN) |
| ``topk`` | per row (the last axis), the share of ids in common ``>= min_overlap``; ``ordered``: the share of positions that hold the same id; ``scores``: an id in common must also carry its golden score (in the output named, by that output's rule) |

The canary, the capacity pre-check, the per-try timeout calibration, ``drillkit golden
check`` and restore verification all judge answers with ``compare``. The built-in
recommender's answers, computed at build and kept in its manifest, are read as a golden set
with the same rules (``from_builtin``).

>>> rule = TopK(min_overlap=0.5)
>>> rule.difference(np.array([[1, 2, 3, 4]]), np.array([[4, 3, 9, 8]]))
>>> rule.difference(np.array([[1, 2, 3, 4]]), np.array([[9, 8, 7, 4]]))
'row 0 shares 1 of 4 ids (needs 50%)'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drillkit.errors import ModelRepositoryError
from drillkit.model.client import EncodedRequest, encode_infer
from drillkit.model.repository import GOLDEN, Manifest, read_validated, verify
from drillkit.workload.tensors import FLOATS, TENSOR_NAME, Tensor, TensorFile, to_json

FORMAT = 1
MAX_GOLDEN_BYTES = 64 << 20
MAX_PROBES = 10_000
MODEL_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_FIX = "record them again with `drillkit golden record --env ENV`"


class Exact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: Literal["exact"] = "exact"

    def difference(self, want: np.ndarray, got: np.ndarray) -> str | None:
        if want.shape != got.shape:
            return f"shape {list(got.shape)}, golden {list(want.shape)}"
        if want.dtype.kind == "O" or got.dtype.kind == "O":
            equal = [a == b for a, b in zip(want.reshape(-1).tolist(), got.reshape(-1).tolist(), strict=True)]
            unequal = [i for i, same in enumerate(equal) if not same]
        else:
            unequal = np.flatnonzero(~((want == got) | (_nan(want) & _nan(got)))).tolist()
        if unequal:
            i = unequal[0]
            return f"{len(unequal)} of {want.size} elements differ (first at {i}: {_at(got, i)}, golden {_at(want, i)})"
        return None


class Tolerance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    rule: Literal["tolerance"] = "tolerance"
    abs: float = Field(0.0, ge=0, le=1e12, description="absolute tolerance")
    rel: float = Field(1e-3, ge=0, le=1e3, description="relative tolerance (of the golden value)")

    def difference(self, want: np.ndarray, got: np.ndarray) -> str | None:
        if want.shape != got.shape:
            return f"shape {list(got.shape)}, golden {list(want.shape)}"
        try:
            w, g = want.astype(np.float64), got.astype(np.float64)
        except (TypeError, ValueError):
            return f"not numbers ({got.dtype})"
        with np.errstate(invalid="ignore"):
            off = np.abs(g - w)
            ok = (off <= self.abs + self.rel * np.abs(w)) | (np.isnan(w) & np.isnan(g)) | (w == g)
        bad = np.flatnonzero(~ok)
        if bad.size:
            worst = int(bad[np.nanargmax(np.where(np.isnan(off[bad]), np.inf, off[bad]))])
            return (f"{bad.size} of {want.size} values off by more than abs {self.abs:g} + rel {self.rel:g} "
                    f"(worst at {worst}: {g.reshape(-1)[worst]:.6g}, golden {w.reshape(-1)[worst]:.6g})")  # fmt: skip
        return None


class TopK(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    rule: Literal["topk"] = "topk"
    min_overlap: float = Field(1.0, gt=0, le=1, description="share of the golden ids that must be there, 0..1")
    ordered: bool = Field(False, description="count an id only at its golden position")
    scores: str | None = Field(None, pattern=TENSOR_NAME,
                               description="the output holding each id's score: an id in common must keep its golden score")

    def score_difference(self, ids: tuple[np.ndarray, np.ndarray], scores: tuple[np.ndarray, np.ndarray],
                         rule: Exact | Tolerance | TopK) -> str | None:  # fmt: skip
        """Each id in common with its golden score, judged by the scores output's ``rule``
        (a reordered near-tie passes; another model that ranks the same ids differently does not)."""
        (want_ids, got_ids), (want_s, got_s) = ids, scores
        if want_s.shape != want_ids.shape or got_s.shape != got_ids.shape:
            return f"{self.scores} has shape {list(got_s.shape)}, not the ids' {list(got_ids.shape)}"
        k = want_ids.shape[-1] if want_ids.ndim else 1
        rows = zip(want_ids.reshape(-1, k).tolist(), got_ids.reshape(-1, k).tolist(),
                   want_s.reshape(-1, k), got_s.reshape(-1, k), strict=True)  # fmt: skip
        for row, (wi, gi, ws, gs) in enumerate(rows):
            golden = dict(zip(wi, ws.tolist(), strict=True))
            pairs = [(golden[i], s) for i, s in zip(gi, gs.tolist(), strict=True) if i in golden]
            if not pairs:
                continue
            want = np.array([a for a, _ in pairs], dtype=want_s.dtype)
            got = np.array([b for _, b in pairs], dtype=got_s.dtype)
            difference = rule.difference(want, got)
            if difference:
                return f"row {row}: the scores of ids in common: {difference}"
        return None

    def difference(self, want: np.ndarray, got: np.ndarray) -> str | None:
        if want.shape != got.shape:
            return f"shape {list(got.shape)}, golden {list(want.shape)}"
        if want.ndim == 0 or want.size == 0:
            return Exact().difference(want, got)
        k = want.shape[-1]
        for row, (w, g) in enumerate(zip(want.reshape(-1, k).tolist(), got.reshape(-1, k).tolist(), strict=True)):
            common = sum(a == b for a, b in zip(w, g, strict=True)) if self.ordered else len(set(w) & set(g))
            if common < self.min_overlap * k - 1e-9:
                where = "positions" if self.ordered else "ids"
                return f"row {row} shares {common} of {k} {where} (needs {self.min_overlap:.0%})"
        return None


Rule = Annotated[Exact | Tolerance | TopK, Field(discriminator="rule")]
DEFAULT_FLOAT = Tolerance(abs=1e-6, rel=1e-3)  # float32 from another batch size or device
DEFAULT_OTHER = Exact()


def default_rule(datatype: str) -> Exact | Tolerance | TopK:
    """The rule a recording gives an output unless told otherwise."""
    return DEFAULT_FLOAT if datatype in FLOATS else DEFAULT_OTHER


def _nan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, dtype=bool)


def _at(a: np.ndarray, i: int) -> str:
    return repr(a.reshape(-1)[i])[:40]


class ProbeFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(pattern=MODEL_NAME)
    version: str | None = Field(None, pattern=r"^[0-9]{1,19}$", description="the Triton model version asked for")
    inputs: tuple[TensorFile, ...] = Field(min_length=1, max_length=64)
    outputs: tuple[TensorFile, ...] = Field(min_length=1, max_length=64)


class GoldenFile(BaseModel):
    """``golden.json`` as read from disk: untrusted until every field validates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1]
    version: str = Field(max_length=64, description="the drillkit model version recorded")
    manifest_sha256: str = Field(pattern=r"^([0-9a-f]{64}|attached)$")  # attached: recorded from a service drillkit did not deploy
    recorded_at: str = Field(max_length=100)
    source: str = Field(max_length=1000, description="where the answers came from (a node's URL)")
    rules: dict[Annotated[str, Field(pattern=MODEL_NAME)], dict[Annotated[str, Field(pattern=TENSOR_NAME)], Rule]] = Field(
        default_factory=dict, max_length=1000)
    probes: tuple[ProbeFile, ...] = Field(min_length=1, max_length=MAX_PROBES)

    @model_validator(mode="after")
    def _unique_names(self) -> GoldenFile:
        for i, probe in enumerate(self.probes):
            for side in (probe.inputs, probe.outputs):
                names = [t.name for t in side]
                if len(set(names)) != len(names):
                    raise ValueError(f"probes.{i}: tensor names repeat: {names}")
        return self


@dataclass(frozen=True, eq=False)
class GoldenProbe:
    """One probe: a request to a model and the answer a healthy node gave."""

    number: int
    model: str
    version: str | None
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def label(self) -> str:
        return f"{self.model} probe {self.number}"

    @cached_property
    def request(self) -> EncodedRequest:
        """The probe's inference request (binary tensors), encoded once."""
        return encode_infer(self.model, [(t.name, t.datatype, t.array) for t in self.inputs],
                            outputs=[t.name for t in self.outputs], version=self.version)  # fmt: skip


@dataclass(frozen=True, eq=False)
class GoldenSet:
    """The probes of one model version and the rule of each model's outputs."""

    version: str
    manifest_sha256: str
    probes: tuple[GoldenProbe, ...]
    rules: Mapping[str, Mapping[str, Exact | Tolerance | TopK]]
    source: str = ""
    recorded_at: str = ""

    @property
    def models(self) -> tuple[str, ...]:
        """The models probed, in the order first seen."""
        return tuple(dict.fromkeys(p.model for p in self.probes))

    def first_of_each(self, count: int = 1) -> list[GoldenProbe]:
        """The first ``count`` probes of every model, the models interleaved."""
        by_model = [[p for p in self.probes if p.model == m][:count] for m in self.models]
        return [p for row in zip(*_padded(by_model)) for p in row if p is not None]

    def interleaved(self) -> list[GoldenProbe]:
        """Every probe, the models taking turns (a run cut short still measures each)."""
        by_model = [[p for p in self.probes if p.model == m] for m in self.models]
        return [p for row in zip(*_padded(by_model)) for p in row if p is not None]

    def rule(self, model: str, output: Tensor) -> Exact | Tolerance | TopK:
        return self.rules.get(model, {}).get(output.name) or default_rule(output.datatype)

    def compare(self, probe: GoldenProbe, got: Mapping[str, np.ndarray]) -> str | None:
        """None when ``got`` passes every output's rule; else what differs first."""
        wanted = {t.name: t for t in probe.outputs}
        missing = [name for name in wanted if name not in got]
        if missing:
            return f"{probe.label}: output {', '.join(missing)} missing"
        for want in probe.outputs:
            rule = self.rule(probe.model, want)
            difference = rule.difference(want.array, np.asarray(got[want.name]))
            if difference is None and isinstance(rule, TopK) and rule.scores:
                difference = self._scores(probe, rule, want, wanted, got)
            if difference:
                return f"{probe.label}: {want.name}: {difference}"
        return None

    def _scores(self, probe: GoldenProbe, rule: TopK, ids: Tensor, wanted: Mapping[str, Tensor],
                got: Mapping[str, np.ndarray]) -> str | None:  # fmt: skip
        scores = wanted.get(rule.scores or "")
        if scores is None:
            return f"the scores output {rule.scores} is not in the golden answer"
        pair_ids = (ids.array, np.asarray(got[ids.name]))
        pair_scores = (scores.array, np.asarray(got[scores.name]))
        return rule.score_difference(pair_ids, pair_scores, self.rule(probe.model, scores))


def _padded(rows: list[list[GoldenProbe]]) -> list[list[GoldenProbe | None]]:
    longest = max((len(r) for r in rows), default=0)
    return [[*r, *[None] * (longest - len(r))] for r in rows]


def golden_path(version_dir: Path) -> Path:
    return version_dir / GOLDEN


def golden_of(version_dir: Path) -> GoldenSet:
    """The verified version's golden set (``golden_for`` after ``verify``)."""
    return golden_for(version_dir, verify(version_dir))


ATTACHED = "attached"  # golden answers of a service drillkit did not deploy: no manifest to bind them to


def golden_of_attached(version_dir: Path) -> GoldenSet:
    """The golden answers recorded from the user's own healthy service (attach mode)."""
    golden = load_golden(version_dir, ATTACHED)
    if golden is None:
        raise ModelRepositoryError(f"no golden answers recorded from your service in {version_dir}: run "
                                   "`drillkit golden record --env ENV --trace TRACE` while it is healthy")  # fmt: skip
    return golden


def recorded_or_builtin(version_dir: Path, manifest: Manifest) -> GoldenSet | None:
    """The golden set of a verified version: recorded (``golden.json``), else the built-in
    recommender's answers from its manifest; None when it has neither."""
    recorded = load_golden(version_dir, manifest.sha256)
    if recorded is not None:
        return recorded
    if manifest.golden.recommend or manifest.golden.search:
        return from_builtin(manifest)
    return None


def golden_for(version_dir: Path, manifest: Manifest) -> GoldenSet:
    """``recorded_or_builtin``, or ModelRepositoryError when the version has no golden answers."""
    golden = recorded_or_builtin(version_dir, manifest)
    if golden is not None:
        return golden
    raise ModelRepositoryError(f"{version_dir} has no golden answers ({golden_path(version_dir)} is missing): "
                               "record them from a healthy node with `drillkit golden record --env ENV`")  # fmt: skip


def load_golden(version_dir: Path, manifest_sha256: str) -> GoldenSet | None:
    """The version's recorded golden set, or None when none was recorded.

    Raises ModelRepositoryError naming the file and field when ``golden.json`` is malformed,
    or was recorded against another manifest.
    """
    path = golden_path(version_dir)
    if not path.exists() and not path.is_symlink():
        return None
    raw = _read(path)
    if raw.manifest_sha256 != manifest_sha256:
        raise ModelRepositoryError(f"{path} was recorded for another manifest (sha256 {raw.manifest_sha256[:12]}..., "
                                   f"this version's is {manifest_sha256[:12]}...): {_FIX}")  # fmt: skip
    try:
        probes = tuple(
            GoldenProbe(i, p.model, p.version, tuple(Tensor.of(t) for t in p.inputs), tuple(Tensor.of(t) for t in p.outputs))
            for i, p in enumerate(raw.probes)
        )
    except ValueError as exc:
        raise ModelRepositoryError(f"{path} is not valid golden answers (probes: {exc}): {_FIX}") from None
    return GoldenSet(raw.version, raw.manifest_sha256, probes, raw.rules, raw.source, raw.recorded_at)


def _read(path: Path) -> GoldenFile:
    return read_validated(path, GoldenFile, max_bytes=MAX_GOLDEN_BYTES, what="valid golden answers",
                          missing="is not a regular file", fix=_FIX)  # fmt: skip


def write_golden(version_dir: Path, golden: GoldenSet) -> Path:
    """Write ``golden.json`` atomically (a reader never sees half a file)."""
    body = {
        "format": FORMAT,
        "version": golden.version,
        "manifest_sha256": golden.manifest_sha256,
        "recorded_at": golden.recorded_at,
        "source": golden.source,
        "rules": {m: {o: r.model_dump() for o, r in rs.items()} for m, rs in golden.rules.items()},
        "probes": [
            {"model": p.model, **({"version": p.version} if p.version else {}),
             "inputs": [to_json(t) for t in p.inputs], "outputs": [to_json(t) for t in p.outputs]}
            for p in golden.probes
        ],
    }  # fmt: skip
    GoldenFile.model_validate(body)  # what is written must read back
    path = golden_path(version_dir)
    tmp = path.with_name(f".{GOLDEN}.{os.getpid()}")
    tmp.write_text(json.dumps(body, indent=1, allow_nan=True))
    os.replace(tmp, path)
    return path


def fingerprint(golden: GoldenSet) -> str:
    """A short digest of the probes and rules (the journal names which golden set judged)."""
    digest = hashlib.sha256(golden.manifest_sha256.encode())
    for p in golden.probes:
        for t in (*p.inputs, *p.outputs):
            digest.update(t.name.encode() + t.datatype.encode() + repr(t.array.tolist()).encode())
    digest.update(json.dumps({m: {o: r.model_dump() for o, r in rs.items()} for m, rs in golden.rules.items()},
                             sort_keys=True).encode())  # fmt: skip
    return digest.hexdigest()[:16]


def parse_rule(text: str) -> tuple[str, Exact | Tolerance | TopK]:
    """A rule from the command line: ``OUTPUT=exact``, ``OUTPUT=tolerance:ABS:REL``,
    ``OUTPUT=topk:MIN_OVERLAP[:ordered]``, optionally ``MODEL/OUTPUT=...``.

    >>> parse_rule("scores=tolerance:0:0.01")
    ('scores', Tolerance(rule='tolerance', abs=0.0, rel=0.01))
    >>> parse_rule("search/item_ids=topk:0.9")
    ('search/item_ids', TopK(rule='topk', min_overlap=0.9, ordered=False, scores=None))
    """
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if not sep or not name:
            raise ValueError("expected OUTPUT=RULE")
        if parts[0] == "exact" and len(parts) == 1:
            return name, Exact()
        if parts[0] == "tolerance" and len(parts) == 3:
            return name, Tolerance(abs=float(parts[1]), rel=float(parts[2]))
        if parts[0] == "topk" and len(parts) in (2, 3) and (len(parts) == 2 or parts[2] == "ordered"):
            return name, TopK(min_overlap=float(parts[1]), ordered=len(parts) == 3)
        raise ValueError(f"unknown rule {spec!r}")
    except (ValueError, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise ValueError(f"{text!r}: {message}; use OUTPUT=exact, OUTPUT=tolerance:ABS:REL "
                         "or OUTPUT=topk:MIN_OVERLAP[:ordered]") from None  # fmt: skip


def rules_for(probes: Sequence[GoldenProbe], overrides: Mapping[str, Exact | Tolerance | TopK]) -> dict[str, dict[str, Any]]:
    """Every probed output's rule: ``overrides`` (``OUTPUT`` or ``MODEL/OUTPUT``), else the default."""
    rules: dict[str, dict[str, Any]] = {}
    for p in probes:
        for t in p.outputs:
            rule = overrides.get(f"{p.model}/{t.name}") or overrides.get(t.name) or default_rule(t.datatype)
            rules.setdefault(p.model, {})[t.name] = rule
    return rules


# The built-in recommender: answers computed on CPU at build, in its manifest. GPU kernels may
# order near-ties differently; 9 of 10 items in common is still the same model (a different
# model shares ~none), and scores within float32 rounding of another device or batch size.
RECOMMENDER_RULES: Mapping[str, Mapping[str, Exact | Tolerance | TopK]] = {
    model: {"item_ids": TopK(min_overlap=0.9, scores="scores"), "scores": Tolerance(abs=1e-3, rel=1e-3)}
    for model in ("recommend", "search")
}


def from_builtin(manifest: Manifest) -> GoldenSet:
    """The built-in recommender's manifest answers as a golden set (``manifest``: a verified Manifest)."""
    probes: list[GoldenProbe] = []
    for p in manifest.golden.recommend:
        inputs = (Tensor("user_id", "INT64", np.array([[p.user_id]], np.int64)), Tensor("k", "INT32", np.array([[p.k]], np.int32)))
        probes.append(GoldenProbe(len(probes), "recommend", None, inputs, _answer(p)))
    for p in manifest.golden.search:
        inputs = (Tensor("query", "BYTES", np.array([[p.query.encode()]], np.object_)),
                  Tensor("user_id", "INT64", np.array([[p.user_id]], np.int64)), Tensor("k", "INT32", np.array([[p.k]], np.int32)))
        probes.append(GoldenProbe(len(probes), "search", None, inputs, _answer(p)))
    return GoldenSet(manifest.version, manifest.sha256, tuple(probes), RECOMMENDER_RULES, source="manifest",
                     recorded_at=manifest.created_at)  # fmt: skip


def _answer(p: Any) -> tuple[Tensor, Tensor]:
    return (Tensor("item_ids", "INT64", np.array([p.item_ids], np.int64)),
            Tensor("scores", "FP32", np.array([p.scores], np.float32)))  # fmt: skip
