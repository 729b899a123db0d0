"""Build a version of the built-in recommender: catalog, weights, manifest and golden answers.

The golden answers (a fixed probe set) are computed on the CPU at build, so that drills can
check that a restored or failed-over region serves *the same model*.

>>> path = build(Path("/tmp/repo"), "v1", ModelParams(items=500, users=50), created_at="2026-01-01T00:00:00Z")  # doctest: +SKIP
>>> verify(path).version                                                                                    # doctest: +SKIP
'v1'
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from drillkit.model.catalog import Catalog, ModelParams, make_catalog, save_catalog
from drillkit.model.recommender import Recommender, build_weights
from drillkit.model.repository import FORMAT, MANIFEST, PROBE_K, PROBES, file_sha256, version_files, write_aside


def build(root: Path, version: str, params: ModelParams, *, created_at: str) -> Path:
    """Build ``version`` under ``root``; written to a temporary folder, then renamed."""

    def write(folder: Path) -> None:
        catalog = make_catalog(params)
        _write_version(folder, version, params, catalog, build_weights(catalog, params), created_at)

    return write_aside(root, version, write)


def _write_version(
    folder: Path, version: str, params: ModelParams, catalog: Catalog, weights: dict[str, np.ndarray], created_at: str
) -> None:
    (folder / "weights").mkdir()
    for name, array in weights.items():
        np.save(folder / "weights" / f"{name}.npy", array)
    save_catalog(catalog, folder / "catalog")
    (folder / "params.json").write_text(json.dumps(asdict(params), indent=2))
    manifest = {
        "format": FORMAT,
        "version": version,
        "created_at": created_at,
        "params": asdict(params),
        "files": {path: file_sha256(folder / path) for path in version_files(folder)},
        "golden": _golden(catalog, weights),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _golden(catalog: Catalog, weights: dict[str, np.ndarray]) -> dict[str, list[dict[str, object]]]:
    import torch

    model = Recommender(weights, "cpu")
    rng = np.random.default_rng(12345)
    users = rng.choice(catalog.users, PROBES, replace=False)
    ids, scores = model.recommend(torch.from_numpy(users), PROBE_K)
    recommend = [
        {"user_id": int(u), "k": PROBE_K, "item_ids": ids[i].tolist(), "scores": scores[i].tolist()}
        for i, u in enumerate(users)
    ]
    titles = catalog.item_title[rng.choice(len(catalog.item_title), PROBES, replace=False)]
    queries = [" ".join(str(t).split()[1:3]) for t in titles]
    ids, scores = model.search(queries, torch.from_numpy(users), PROBE_K)
    search = [
        {"query": q, "user_id": int(users[i]), "k": PROBE_K, "item_ids": ids[i].tolist(), "scores": scores[i].tolist()}
        for i, q in enumerate(queries)
    ]
    return {"recommend": recommend, "search": search}
