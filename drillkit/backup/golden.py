"""Does a node answer the version's golden probes as the golden rules demand?

Restore verification sends *every* probe of the restored version's golden set (recorded in
its ``golden.json``, or the built-in recommender's manifest answers) to one node and judges
each answer by its outputs' rules: the restored region must serve the same model.

>>> golden_identical("http://127.0.0.1:8000", golden_of(Path("regions/primary/models/v1")))  # doctest: +SKIP
(True, '32 golden probes answered as recorded')
"""

from __future__ import annotations

import time
from pathlib import Path

from drillkit.errors import ModelRepositoryError
from drillkit.model.repository import verify
from drillkit.smoke import run_probes
from drillkit.workload.golden import GoldenSet, recorded_or_builtin


def golden_identical(url: str, golden: GoldenSet) -> tuple[bool, str]:
    """Send every golden probe to ``url``; (all as recorded, a detail naming the first difference)."""
    for result in run_probes(url, golden):
        if not result.ok:
            return False, result.error or result.wrong or ""
    return True, f"{len(golden.probes)} golden probes answered as recorded"


def node_serves(version_dir: Path, url: str, node: str) -> float | None:
    """When the node at ``url`` answered every golden probe of the version at ``version_dir``
    (None: the version has no golden answers yet, as a release of your own model before its
    canary is judged); ModelRepositoryError naming the first difference when it did not."""
    golden = recorded_or_builtin(version_dir, verify(version_dir))
    if golden is None:
        return None
    same, detail = golden_identical(url, golden)
    if not same:
        raise ModelRepositoryError(f"{node} on {version_dir.name} does not answer that version's golden probes: {detail}")
    return time.time()
