"""Fuzz the backup manifest and the model manifest readers.

The property: any bytes give a valid object or the project's error for bad input (a
DrillkitError with exit code 2), never another exception; and what is accepted keeps every
path inside its folder. Inputs are random bytes and structured mutations of a valid
manifest (a field replaced, removed or duplicated; hostile paths and numbers spliced in).
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.errors import BackupRefused
from drillkit.backup.manifest import BackupManifest, manifest_key, object_key, read_manifest
from drillkit.backup.store import BackupStore
from drillkit.errors import DrillkitError, ExitCode, ModelRepositoryError, SpecError
from drillkit.model.catalog import ModelParams
from drillkit.model.repository import verify
from drillkit.safepath import check_relative

CONTENT = b"{}"
SHA = hashlib.sha256(CONTENT).hexdigest()
BACKUP_ID = "20260101T120000.000Z-ab12"

VALID_BACKUP: dict[str, Any] = {
    "format": 1, "id": BACKUP_ID, "created_at": 1.0, "committed_at": 2.0,
    "source": {"environment": "test", "region": "primary"}, "versions": {"v1": SHA},
    "files": [{"path": "v1/params.json", "sha256": SHA, "size": 2}, {"path": "v1/manifest.json", "sha256": SHA, "size": 2}],
    "bytes": 4, "new_objects": 1, "new_bytes": 2,
}  # fmt: skip
VALID_MODEL: dict[str, Any] = {
    "format": 1, "version": "v1", "created_at": "2026-01-01T00:00:00Z", "params": asdict(ModelParams()),
    "files": {"params.json": SHA},
    "golden": {"recommend": [{"user_id": 1, "k": 2, "item_ids": [3, 4], "scores": [0.5, 0.25]}],
               "search": [{"query": "red shoes", "user_id": 1, "k": 1, "item_ids": [3], "scores": [0.5]}]},
}  # fmt: skip

# Values an attacker or a careless tool would splice in.
HOSTILE = st.sampled_from([
    "../../etc/passwd", "/etc/passwd", "v1/../../x", "v1//x", "v1/./x", "v1/a\x00b", "v1/a\nb", "", "v1/", "\\x",
    -1, 0, 2**63, 10**400, 1e999, float("nan"), True, None, [], {}, "A" * 64, "f" * 63, "f" * 64,
])  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | HOSTILE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """``valid`` with one to three mutations, serialised (sometimes cut short)."""
    doc: Any = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        doc = _mutate(draw, doc)
    text = json.dumps(doc).encode()
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _mutate(draw: st.DrawFn, node: Any) -> Any:
    """Replace, remove or duplicate something at a random depth of ``node``."""
    children = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    if children and draw(st.booleans()):
        key = draw(st.sampled_from(children))
        node[key] = _mutate(draw, node[key])
        return node
    action = draw(st.sampled_from(["replace", "remove", "duplicate"]))
    if action == "replace" or not children:
        return draw(JSON)
    key = draw(st.sampled_from(children))
    if action == "remove":
        del node[key]
    elif isinstance(node, list):
        node.append(copy.deepcopy(node[key]))
    else:
        node[draw(st.text(max_size=8))] = copy.deepcopy(node[key])
    return node


BACKUP_INPUTS = st.one_of(st.binary(max_size=512), mutated(VALID_BACKUP), st.integers(1, 3000).map(lambda n: b"[" * n))
MODEL_INPUTS = st.one_of(st.binary(max_size=512), mutated(VALID_MODEL), st.integers(1, 3000).map(lambda n: b"{\"a\":" * n))


def _assert_input_error(exc: DrillkitError) -> None:
    assert exc.exit_code is ExitCode.INVALID_INPUT, exc
    assert "fix" in str(exc) or "drillkit model" in str(exc), exc


def test_the_valid_inputs_are_valid(tmp_path: Path) -> None:
    assert read_manifest(json.dumps(VALID_BACKUP).encode(), "x").id == BACKUP_ID
    assert verify(_version(tmp_path, json.dumps(VALID_MODEL).encode())).version == "v1"


@given(data=BACKUP_INPUTS)
@settings(deadline=None)
def test_any_backup_manifest_reads_as_a_manifest_or_a_spec_error(data: bytes) -> None:
    try:
        manifest = read_manifest(data, "store/backups/x.json")
    except SpecError as exc:
        _assert_input_error(exc)
        assert exc.file == "store/backups/x.json"
        return
    assert isinstance(manifest, BackupManifest)
    assert all(check_relative(f.path) and f.size >= 0 for f in manifest.files)
    assert len({f.path for f in manifest.files}) == len(manifest.files)


@given(data=BACKUP_INPUTS)
@settings(deadline=None)
def test_any_stored_manifest_restores_inside_its_folder_or_is_refused(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        blobs = LocalBlobs(root / "store")
        blobs.put_bytes(object_key(SHA), CONTENT)
        blobs.put_bytes(manifest_key(BACKUP_ID), data)
        store = BackupStore(blobs)
        try:
            store.fetch(store.get(BACKUP_ID), root / "dest")
        except BackupRefused:
            pass  # refused, naming the backup: a store failure, as a corrupted object is
        written = {p for p in root.rglob("*") if not p.is_relative_to(root / "store")}
        assert all(p.is_relative_to(root / "dest") or p == root / "dest" for p in written)


@given(data=MODEL_INPUTS)
@settings(deadline=None)
def test_any_model_manifest_verifies_or_is_a_repository_error(tmp_path: Path, data: bytes) -> None:
    version = _version(tmp_path, data)
    try:
        manifest = verify(version)
    except ModelRepositoryError as exc:
        _assert_input_error(exc)
        return
    assert all(check_relative(path) for path in manifest.files)


def _version(tmp_path: Path, manifest: bytes) -> Path:
    version = tmp_path / "v1"
    version.mkdir(exist_ok=True)
    (version / "params.json").write_bytes(CONTENT)
    (version / "manifest.json").write_bytes(manifest)
    return version
