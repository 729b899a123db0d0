"""Wrong answers served: every answer users got from a release, judged after the drill.

The load generator kept the body of each answer that came from a version other than the
environment's (``drillkit.answer_log``; the gateway's ``X-Drillkit-Version`` header says
which). Once every node is back on the environment's version, each kept answer's request
(its trace row) is sent again to a node on that version, and the user's answer is judged
against the reference answer by the version's golden rules: exactly the requests that got a
wrong answer are counted, not an estimate from an exposure window.

>>> audit(run_dir, trace, ("primary-0", "http://127.0.0.1:9001"), golden, reference_version="v1")  # doctest: +SKIP
AnswerAudit(served=812, audited=812, wrong=812, ...)
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from drillkit.answer_log import read_answers
from drillkit.model.client import InferenceClient, decode_outputs
from drillkit.request_log import read_request_log
from drillkit.rollout.compare import judge_answer, model_of
from drillkit.rollout.report import AnswerAudit
from drillkit.trace import read_trace
from drillkit.workload.golden import GoldenSet
from drillkit.workload.requests import rows_of


def audit(run_dir: Path, trace: Path, reference: tuple[str, str], golden: GoldenSet, *, reference_version: str,
          concurrency: int = 4) -> AnswerAudit:  # fmt: skip
    """Judge every kept answer of another version against ``reference`` ((node, url)) on ``reference_version``."""
    started = time.time()
    log = read_request_log(run_dir / "request_log")
    others = log[(log["outcome"] == "ok") & (log["version"] != "") & (log["version"] != reference_version)]
    served = {str(v): int(n) for v, n in others["version"].value_counts().sort_index().items()}
    answers = read_answers(run_dir / "answers")
    rows = rows_of(read_trace(trace)) if len(answers) else None
    chunks = [answers.iloc[i::concurrency] for i in range(concurrency)] if rows is not None else []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        judged = [v for chunk in pool.map(lambda c: _judge(c, rows, reference[1], golden), chunks) for v in chunk]
    wrong = [w for ok, w in judged if ok and w is not None]
    errors = sum(1 for ok, _ in judged if not ok)
    audited = len(judged) - errors
    return AnswerAudit(reference_version=reference_version, reference_node=reference[0], served=served,
                       audited=audited, wrong=len(wrong), first_wrong=wrong[0] if wrong else None,
                       unaudited=max(0, sum(served.values()) - audited), reference_errors=errors, started_at=started,
                       ended_at=time.time())  # fmt: skip


def _judge(answers: pd.DataFrame, rows: Any, url: str, golden: GoldenSet) -> list[tuple[bool, str | None]]:
    """(the reference answered, how the user's answer was wrong) for each kept answer."""
    client = InferenceClient(url, timeout_s=10.0)
    out = []
    try:
        for row, body, length in zip(answers["row"], answers["body"], answers["header_length"], strict=True):
            request = rows.request(int(row))
            reference = client.send(request)
            if reference.outputs is None:
                out.append((False, None))
                continue
            out.append((True, _wrong(golden, request, bytes(body), int(length), reference.outputs, int(row))))
    finally:
        client.close()
    return out


def _wrong(golden: GoldenSet, request: Any, body: bytes, length: int, want: Any, row: int) -> str | None:
    headers = {"inference-header-content-length": str(length)} if length else {}
    try:
        got = decode_outputs(body, headers, request.outputs)
    except Exception as exc:  # tritonclient raises several types on a malformed body  # noqa: BLE001
        return f"row {row}: the answer cannot be read ({exc})"
    difference = judge_answer(golden, model_of(request), want, got)
    return f"row {row}: {difference}" if difference else None
