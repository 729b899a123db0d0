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

Building the built-in recommender's versions is ``drillkit.model.build`` (it needs torch; this
module, which every node, backup and restore reads manifests with, does not):

>>> verify(Path("/tmp/repo/v1")).version   # doctest: +SKIP
'v1'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from drillkit.errors import ModelRepositoryError
from drillkit.model.catalog import ModelParams
from drillkit.safepath import PathName, RelativePath, Sha256, confined

FORMAT = 1
MANIFEST = "manifest.json"
GOLDEN = "golden.json"  # recorded answers beside the manifest (drillkit.workload.golden), bound to its sha256
RECOMMENDER_MODELS = ("recommend", "search")
PROBES = 16
PROBE_K = 10
MAX_MANIFEST_BYTES = 64 << 20  # a real one is a few kB; refuse to read a huge file whole
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


class _Probe(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    user_id: int = Field(ge=0, le=2**63 - 1)
    k: int = Field(ge=1, le=10_000)
    item_ids: tuple[int, ...] = Field(max_length=10_000)
    scores: tuple[float, ...] = Field(max_length=10_000)


class _SearchProbeFile(_Probe):
    query: str = Field(max_length=10_000)


class _GoldenFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    recommend: tuple[_Probe, ...] = Field(max_length=10_000)
    search: tuple[_SearchProbeFile, ...] = Field(max_length=10_000)


class ManifestFile(BaseModel):
    """``manifest.json`` as read from disk: untrusted until every field validates."""

    model_config = ConfigDict(frozen=True)

    format: Literal[1]
    version: PathName
    created_at: str = Field(max_length=100)
    # "recommender": drillkit's built-in model (weights, catalog, golden answers computed at
    # build); "triton": a snapshot of a user's Triton repository (drillkit.workload.repository).
    workload: Literal["recommender", "triton"] = "recommender"
    models: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")], ...] = Field((), max_length=1000)
    params: dict[str, int]
    files: dict[RelativePath, Sha256] = Field(max_length=1_000_000)
    golden: _GoldenFile

    @field_validator("params")
    @classmethod
    def _params_are_model_params(cls, params: dict[str, int]) -> dict[str, int]:
        try:
            ModelParams(**params)
        except TypeError as exc:  # an unknown name
            raise ValueError(str(exc)) from None
        return params

    @model_validator(mode="after")
    def _models_of_the_workload(self) -> ManifestFile:
        if self.workload == "triton" and not self.models:
            raise ValueError("a triton version lists the models of its repository")
        if self.workload == "recommender" and self.models:
            raise ValueError("the built-in recommender's models are not listed")
        return self


@dataclass(frozen=True)
class Manifest:
    """A verified manifest."""

    version: str
    created_at: str
    params: dict[str, int]
    files: dict[str, str]
    golden: Golden
    sha256: str  # of manifest.json itself: one fingerprint for the whole version
    workload: str = "recommender"
    models: tuple[str, ...] = RECOMMENDER_MODELS

    def model_params(self) -> ModelParams:
        return ModelParams(**self.params)


def write_aside(root: Path, version: str, write: Callable[[Path], None]) -> Path:
    """A new version ``root/version``, filled by ``write`` in a temporary folder beside it and
    renamed in at once: a reader (a node, a backup) never sees half a version."""
    target = root / version
    if target.exists():
        raise ModelRepositoryError(f"{target} already exists: choose a new version or delete it")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
    try:
        write(tmp)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def verify(version_dir: Path) -> Manifest:
    """Check every file against the manifest; raise ModelRepositoryError naming the file.

    The manifest may come from anywhere (a backup, a copy from another host): its paths must
    stay inside ``version_dir`` and no file may be a symbolic link, so that a manifest
    listing ``/etc/passwd`` with its real sha256 is refused, not reported OK.
    """
    manifest_path = version_dir / MANIFEST
    raw = _read_manifest(manifest_path)
    _refuse_links(version_dir, manifest_path)
    for path, digest in sorted(raw.files.items()):
        file = _listed_file(version_dir, path, manifest_path)
        if not file.is_file():
            raise ModelRepositoryError(f"{file} is missing (listed in {manifest_path}): {_FIX}")
        if file_sha256(file) != digest:
            raise ModelRepositoryError(f"{file} does not match its sha256 in {manifest_path}: {_FIX}")
    extra = sorted(set(version_files(version_dir)) - set(raw.files))
    if extra:
        raise ModelRepositoryError(f"{version_dir / extra[0]} is not in {manifest_path} (an unexpected file): {_FIX}")
    return _manifest(raw, file_sha256(manifest_path))


def _read_manifest(path: Path) -> ManifestFile:
    """The manifest at ``path``, validated; ModelRepositoryError names the first bad field."""
    return read_validated(path, ManifestFile, max_bytes=MAX_MANIFEST_BYTES, what="a valid manifest",
                          missing=f"is missing: {path.parent} is not a model version", fix=_FIX)  # fmt: skip


M = TypeVar("M", bound=BaseModel)


def read_validated(path: Path, model: type[M], *, max_bytes: int, what: str, missing: str, fix: str) -> M:
    """An untrusted JSON file of a version read into ``model``: a regular file (never a link),
    at most ``max_bytes``; every ModelRepositoryError names the file, the first bad field and ``fix``."""
    if path.is_symlink() or not path.is_file():
        raise ModelRepositoryError(f"{path} {missing}; {fix}")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ModelRepositoryError(f"{path} cannot be read ({exc.strerror}): {fix}") from None
    if len(data) > max_bytes:
        raise ModelRepositoryError(f"{path} is larger than {max_bytes >> 20} MiB: not {what}; {fix}")
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(file)"
        raise ModelRepositoryError(f"{path} is not {what} ({field}: {first['msg']}): {fix}") from None


def _listed_file(version_dir: Path, path: str, manifest_path: Path) -> Path:
    try:
        confined(version_dir, path)
    except ValueError as exc:
        raise ModelRepositoryError(f"{manifest_path} lists a file outside {version_dir}: {exc}; {_FIX}") from None
    return version_dir / path


def _refuse_links(version_dir: Path, manifest_path: Path) -> None:
    # A link would make verify hash (and a backup copy) a file outside the version.
    for root, dirs, files in os.walk(version_dir):
        for name in [*dirs, *files]:
            if os.path.islink(os.path.join(root, name)):
                raise ModelRepositoryError(f"{os.path.join(root, name)} is a symbolic link (a version listed in "
                                           f"{manifest_path} holds regular files only): {_FIX}")  # fmt: skip


def _manifest(raw: ManifestFile, digest: str) -> Manifest:
    golden = raw.golden
    return Manifest(
        version=raw.version,
        created_at=raw.created_at,
        params=dict(raw.params),
        files=dict(raw.files),
        golden=Golden(
            recommend=tuple(RecommendProbe(p.user_id, p.k, p.item_ids, p.scores) for p in golden.recommend),
            search=tuple(SearchProbe(p.query, p.user_id, p.k, p.item_ids, p.scores) for p in golden.search),
        ),
        sha256=digest,
        workload=raw.workload,
        models=raw.models if raw.workload == "triton" else RECOMMENDER_MODELS,
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
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / MANIFEST).exists())  # fmt: skip


def version_files(folder: Path) -> list[str]:
    """Every file of a version the manifest must list: all but the manifest and the golden answers."""
    paths = (str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return sorted(p for p in paths if p not in (MANIFEST, GOLDEN))


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
