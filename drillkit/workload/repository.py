"""A user's Triton model repository: read it, check it can be served here, snapshot it as a version.

A standard Triton repository holds one folder per model, each with a ``config.pbtxt``
(protobuf text, parsed with Triton's own ``ModelConfig`` message) and numbered version
folders. drillkit serves a snapshot of the whole repository as one drillkit model version:

```
<root>/<version>/
    manifest.json         format, version, workload "triton", models, files {path: sha256}
    golden.json           answers recorded from a healthy node (drillkit golden record)
    repository/<model>/config.pbtxt, repository/<model>/<n>/...
```

so the manifest's sha256 checks, backups, restores and publishing work on it as on the
built-in recommender. The repository is untrusted: links are refused (a snapshot must not
copy a file from outside it), and so is any model the embedded platform cannot serve.

>>> [m.name for m in scan(Path("tests/fixtures/ranker-repository"))]   # doctest: +SKIP
['ranker']
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from drillkit.errors import SpecError
from drillkit.model.repository import FORMAT, MANIFEST, file_sha256, verify, write_aside

REPOSITORY = "repository"  # the snapshot's Triton repository, inside the version folder
LOCAL_BACKENDS = ("python",)  # what the tritonserver bundled in nvidia-pytriton can run
MAX_CONFIG_BYTES = 1 << 20
MAX_FILES = 100_000
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class TensorConfig:
    name: str
    datatype: str  # the KServe name: FP32, INT64, BYTES ...
    dims: tuple[int, ...]  # without the batch dimension; -1 is variable


@dataclass(frozen=True)
class ModelConfig:
    """What drillkit needs from one model's ``config.pbtxt``."""

    name: str
    backend: str  # "python", "onnxruntime", ... or the platform ("tensorrt_plan", "ensemble")
    max_batch_size: int
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    versions: tuple[str, ...]


def scan(repository: Path, *, source: str | None = None) -> list[ModelConfig]:
    """Every model of a Triton repository; SpecError names the file, the field and the fix."""
    where = source or str(repository)
    if not repository.is_dir() or repository.is_symlink():
        raise SpecError(where, "workload.repository", f"{repository} is not a folder",
                        "point workload.repository at a Triton model repository (one folder per model)")  # fmt: skip
    _refuse_links(repository, where)
    models = [_model(folder, where) for folder in sorted(repository.iterdir()) if folder.is_dir() and not folder.name.startswith(".")]
    if not models:
        raise SpecError(where, "workload.repository", f"{repository} holds no model folder with a config.pbtxt",
                        "a Triton repository holds <model>/config.pbtxt and <model>/1/...")  # fmt: skip
    return models


def check_local(models: list[ModelConfig], where: str) -> None:
    """Refuse models the bundled tritonserver cannot run (only its Python backend ships)."""
    for m in models:
        if m.backend not in LOCAL_BACKENDS:
            raise SpecError(
                where, f"workload.repository: model {m.name}",
                f"uses the {m.backend} backend, which the tritonserver bundled with nvidia-pytriton lacks "
                f"(it ships only {', '.join(LOCAL_BACKENDS)})",
                "run this model on platform: kubernetes with your own Triton image (workload.image), "
                "or wrap it in a Python-backend model",
            )  # fmt: skip


def _model(folder: Path, where: str) -> ModelConfig:
    config_path = folder / "config.pbtxt"
    if not config_path.is_file():
        raise SpecError(str(config_path), "-", "missing: every model folder needs a config.pbtxt",
                        "write the model's Triton config, or remove the folder")  # fmt: skip
    config = _parse(config_path)
    name = config.name or folder.name
    if name != folder.name:
        raise SpecError(str(config_path), "name", f"{name!r} differs from its folder {folder.name!r}",
                        "Triton serves a model under its folder's name: make them equal")  # fmt: skip
    if not _MODEL_NAME.match(name):
        raise SpecError(str(config_path), "name", f"{name!r} is not a model name drillkit accepts",
                        "use letters, digits, '_', '.' and '-' (at most 128)")  # fmt: skip
    versions = tuple(sorted((v.name for v in folder.iterdir() if v.is_dir() and v.name.isdigit()), key=int))
    if not versions:
        raise SpecError(str(folder), "-", "has no numbered version folder", f"put the model files in {folder}/1/")
    backend = config.backend or config.platform or "(none)"
    return ModelConfig(name, backend, int(config.max_batch_size), _tensors(config.input, config_path, "input"),
                       _tensors(config.output, config_path, "output"), versions)  # fmt: skip


def _parse(path: Path):  # type: ignore[no-untyped-def]
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise SpecError(str(path), "-", f"is larger than {MAX_CONFIG_BYTES >> 10} KiB: not a model config", "check the file")
    try:
        return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    except (text_format.ParseError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), "-", f"is not a Triton model config ({exc})", "fix the protobuf text (see Triton's model_config.proto)") from None


def _tensors(items, path: Path, side: str) -> tuple[TensorConfig, ...]:  # type: ignore[no-untyped-def]
    from tritonclient.grpc import model_config_pb2

    out = []
    for i, t in enumerate(items):
        datatype = model_config_pb2.DataType.Name(t.data_type).removeprefix("TYPE_")
        datatype = "BYTES" if datatype == "STRING" else datatype
        if datatype == "INVALID":
            raise SpecError(str(path), f"{side}[{i}].data_type", "is missing", "give every tensor a data_type, e.g. TYPE_FP32")
        out.append(TensorConfig(t.name, datatype, tuple(int(d) for d in t.dims)))
    return tuple(out)


def _refuse_links(root: Path, where: str) -> None:
    count = 0
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            count += 1
            if os.path.islink(os.path.join(folder, name)):
                raise SpecError(where, "workload.repository", f"{os.path.join(folder, name)} is a symbolic link",
                                "copy the file into the repository: a snapshot holds regular files only")  # fmt: skip
        if count > MAX_FILES:
            raise SpecError(where, "workload.repository", f"holds more than {MAX_FILES} files", "point it at the model repository itself")


def snapshot(source: Path, root: Path, version: str, *, created_at: str, where: str | None = None) -> Path:
    """Copy a Triton repository into ``root/version`` with a manifest; written aside, then renamed."""
    models = scan(source, source=where)

    def write(tmp: Path) -> None:
        shutil.copytree(source, tmp / REPOSITORY, ignore=shutil.ignore_patterns(".*", "__pycache__"), dirs_exist_ok=True)
        files = sorted(str(p.relative_to(tmp)) for p in (tmp / REPOSITORY).rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT, "version": version, "created_at": created_at, "workload": "triton",
            "models": [m.name for m in models], "params": {},
            "files": {path: file_sha256(tmp / path) for path in files}, "golden": {"recommend": [], "search": []},
        }  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        verify(tmp)

    return write_aside(root, version, write)


def differs(version_dir: Path, source: Path) -> str | None:
    """The first file where a snapshot and its source repository differ (None: the same)."""
    manifest = verify(version_dir)
    have = {p.removeprefix(f"{REPOSITORY}/"): h for p, h in manifest.files.items() if p.startswith(f"{REPOSITORY}/")}
    paths = (p for p in source.rglob("*") if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                                                        for part in p.relative_to(source).parts))  # fmt: skip
    now = {str(p.relative_to(source)): p for p in paths}
    for name in sorted(set(have) | set(now)):
        if name not in now or name not in have or file_sha256(now[name]) != have[name]:
            return name
    return None
