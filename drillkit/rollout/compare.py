"""The canary's comparison: the same requests to a node on the old version and to the canary.

Each request goes to both, one after the other, from ``concurrency`` workers. The canary's
answer is judged against the old node's by the old version's golden rules (a top-k overlap,
a score tolerance, exact ids: whatever the version's ``golden.json`` or manifest says), so
"wrong" means what it means for the golden answers. Errors and latency are counted on each
side, so a slower release shows as a ratio of the two medians and the two tails measured in the
same moments (the tail: the p99 of 1,000 requests, the p90 of 100; see ``tail_quantile``).

>>> result = compare("http://127.0.0.1:9001", "http://127.0.0.1:9002", requests, golden)  # doctest: +SKIP
>>> result.wrong, result.p99_ms_new / result.p99_ms_old                                  # doctest: +SKIP
(0, 1.04)
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from drillkit.model.client import EncodedRequest, InferenceClient, Reply
from drillkit.rollout.report import Comparison
from drillkit.workload.golden import GoldenProbe, GoldenSet
from drillkit.workload.tensors import Tensor

_MODEL = re.compile(r"^/v2/models/([^/]+)/")


def compare(reference: tuple[str, str], canary: tuple[str, str], requests: Sequence[EncodedRequest], golden: GoldenSet,
            *, concurrency: int = 4, timeout_s: float = 5.0) -> Comparison:  # fmt: skip
    """Send every request to the old node and to the canary ((name, url) each); judge the canary."""
    started = time.time()
    chunks = [requests[i::concurrency] for i in range(concurrency)]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pairs = [p for chunk in pool.map(lambda c: _pairs(reference[1], canary[1], c, timeout_s), chunks) for p in chunk]
    wrong = [w for w in (_wrong(golden, i, r, old, new) for i, (r, old, new) in enumerate(pairs)) if w is not None]
    old_ms = [old.latency_s * 1e3 for _, old, _ in pairs if old.error is None]
    new_ms = [new.latency_s * 1e3 for _, _, new in pairs if new.error is None]
    errors_new = [new.error for _, _, new in pairs if new.error is not None]
    return Comparison(
        reference=reference[0], canary=canary[0], started_at=started, ended_at=time.time(), requests=len(pairs),
        answered=sum(1 for _, old, new in pairs if old.outputs is not None and new.outputs is not None),
        wrong=len(wrong), first_wrong=wrong[0] if wrong else None,
        errors_old=sum(1 for _, old, _ in pairs if old.error is not None), errors_new=len(errors_new),
        first_error_new=errors_new[0] if errors_new else None,
        p50_ms_old=_quantile(old_ms, 0.5), p99_ms_old=_quantile(old_ms, 0.99),
        p50_ms_new=_quantile(new_ms, 0.5), p99_ms_new=_quantile(new_ms, 0.99),
        tail_quantile=(tail := tail_quantile(min(len(old_ms), len(new_ms)))),
        tail_ms_old=_quantile(old_ms, tail), tail_ms_new=_quantile(new_ms, tail),
    )  # fmt: skip


def tail_quantile(samples: int) -> float:
    """The highest quantile a sample of ``samples`` estimates steadily: ten values above it, at most 0.99.

    >>> tail_quantile(100), tail_quantile(200), tail_quantile(5000)
    (0.9, 0.95, 0.99)
    """
    return min(0.99, max(0.5, round(1 - 10 / max(samples, 1), 2)))


def _pairs(old_url: str, new_url: str, requests: Sequence[EncodedRequest],
           timeout_s: float) -> list[tuple[EncodedRequest, Reply, Reply]]:  # fmt: skip
    old, new = InferenceClient(old_url, timeout_s=timeout_s), InferenceClient(new_url, timeout_s=timeout_s)
    try:
        return [(r, old.send(r), new.send(r)) for r in requests]
    finally:
        old.close()
        new.close()


def _wrong(golden: GoldenSet, number: int, request: EncodedRequest, old: Reply, new: Reply) -> str | None:
    if old.outputs is None or new.outputs is None:
        return None  # an error is counted as one, not judged as an answer
    difference = judge_answer(golden, model_of(request), old.outputs, new.outputs)
    return f"compared request {number}: {difference}" if difference else None


def judge_answer(golden: GoldenSet, model: str, want: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]) -> str | None:
    """How ``got`` breaks the golden rules of ``model`` against ``want`` (None: it passes),
    e.g. ``"item_ids: row 0 shares 0 of 10 ids (needs 90%)"``."""
    if not want:
        return "the reference answered no output to compare with"  # never a silent pass
    outputs = tuple(Tensor.from_numpy(name, np.asarray(value)) for name, value in want.items())
    probe = GoldenProbe(0, model, None, (), outputs)
    difference = golden.compare(probe, got)
    return difference.removeprefix(f"{probe.label}: ") if difference else None


def model_of(request: EncodedRequest) -> str:
    match = _MODEL.match(request.path)
    return match.group(1) if match else ""


def _quantile(values: list[float], q: float) -> float | None:
    return round(float(np.quantile(values, q)), 3) if values else None
