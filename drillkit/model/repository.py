"""The model repository: versioned folders, a sha256 manifest and golden answers.

```
<root>/<version>/
    manifest.json         format, version, created_at, params, files {path: sha256}, golden
    params.json
    weights/<name>.npy    item_embeddings, user_embeddings, token_embeddings, item_bias
    catalog/              items.parquet, users.parquet, names.json
```

A node verifies the manifest before it serves, so a corrupted, truncated or tampered copy
is refused instead of answering wrongly. The golden answers (a fixed probe set, computed
on CPU at build) let drills check that a restored or failed-over region serves *the same
model*, not just *a* model.

>>> path = build(Path("/tmp/repo"), "v1", ModelParams(items=500, users=50), created_at="2026-01-01T00:00:00Z")  # doctest: +SKIP
>>> verify(path).version                                                                                    # doctest: +SKIP
'v1'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from drillkit.errors import ModelRepositoryError
from drillkit.model.catalog import Catalog, ModelParams, make_catalog, save_catalog
from drillkit.model.recommender import Recommender, build_weights

FORMAT = 1
MANIFEST = "manifest.json"
PROBES = 16
PROBE_K = 10
_FIX = "rebuild it with `drillkit model build` or publish a good copy with `drillkit model publish`"


@dataclass(frozen=True)
class RecommendProbe:
    user_id: int
    k: int
    item_ids: tuple[int, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class SearchProbe:
    query: str
    user_id: int
    k: int
    item_ids: tuple[int, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class Golden:
    recommend: tuple[RecommendProbe, ...]
    search: tuple[SearchProbe, ...]


@dataclass(frozen=True)
class Manifest:
    """A verified manifest."""

    version: str
    created_at: str
    params: dict[str, int]
    files: dict[str, str]
    golden: Golden
    sha256: str  # of manifest.json itself: one fingerprint for the whole version

    def model_params(self) -> ModelParams:
        return ModelParams(**self.params)


def build(root: Path, version: str, params: ModelParams, *, created_at: str) -> Path:
    """Build ``version`` under ``root``; written to a temporary folder, then renamed."""
    target = root / version
    if target.exists():
        raise ModelRepositoryError(f"{target} already exists: choose a new version or delete it")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
    try:
        catalog = make_catalog(params)
        weights = build_weights(catalog, params)
        _write_version(tmp, version, params, catalog, weights, created_at)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


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
        "files": {path: _sha256(folder / path) for path in _files(folder)},
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


def verify(version_dir: Path) -> Manifest:
    """Check every file against the manifest; raise ModelRepositoryError naming the file."""
    manifest_path = version_dir / MANIFEST
    raw = _read_manifest(manifest_path)
    listed: dict[str, str] = raw["files"]
    for path, digest in sorted(listed.items()):
        file = version_dir / path
        if not file.is_file():
            raise ModelRepositoryError(f"{file} is missing (listed in {manifest_path}): {_FIX}")
        if _sha256(file) != digest:
            raise ModelRepositoryError(f"{file} does not match its sha256 in {manifest_path}: {_FIX}")
    extra = sorted(set(_files(version_dir)) - set(listed))
    if extra:
        raise ModelRepositoryError(f"{version_dir / extra[0]} is not in {manifest_path} (an unexpected file): {_FIX}")
    return _manifest(raw, _sha256(manifest_path))


def _read_manifest(path: Path) -> dict:  # type: ignore[type-arg]
    if not path.is_file():
        raise ModelRepositoryError(f"{path} is missing: {path.parent} is not a model version; {_FIX}")
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != FORMAT or not isinstance(raw.get("files"), dict):
            raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT}")
        raw["golden"]["recommend"], raw["golden"]["search"], raw["params"]  # noqa: B018  (shape check)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelRepositoryError(f"{path} is not a valid manifest ({exc}): {_FIX}") from None
    return raw


def _manifest(raw: dict, digest: str) -> Manifest:  # type: ignore[type-arg]
    golden = raw["golden"]
    return Manifest(
        version=raw["version"],
        created_at=raw["created_at"],
        params=raw["params"],
        files=raw["files"],
        golden=Golden(
            recommend=tuple(RecommendProbe(p["user_id"], p["k"], tuple(p["item_ids"]), tuple(p["scores"])) for p in golden["recommend"]),
            search=tuple(SearchProbe(p["query"], p["user_id"], p["k"], tuple(p["item_ids"]), tuple(p["scores"])) for p in golden["search"]),
        ),  # fmt: skip
        sha256=digest,
    )


def publish(version_dir: Path, dest_root: Path) -> Path:
    """Copy a verified version into ``dest_root`` atomically; the copy is verified too."""
    source = verify(version_dir)
    target = dest_root / version_dir.name
    if target.exists():
        if verify(target).sha256 == source.sha256:
            return target  # the same version is already there
        raise ModelRepositoryError(f"{target} exists with different content: publish under a new version")
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version_dir.name}.", dir=dest_root))
    try:
        shutil.copytree(version_dir, tmp, dirs_exist_ok=True)
        verify(tmp)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def versions(root: Path) -> list[str]:
    """Version folders under ``root`` (hidden temporaries excluded), oldest name first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists())


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
