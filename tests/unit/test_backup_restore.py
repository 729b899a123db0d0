"""Restore logic against the Platform seam: a small platform whose "nodes" are in-process KServe
servers running the real recommender on the repository they were started from.

(The real path, with Triton nodes, HAProxy and load, is tests/integration/test_restore.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.errors import RestoreFailed
from drillkit.backup.manifest import Source, object_key
from drillkit.backup.restore import region_serves, restore_region
from drillkit.backup.store import BackupStore
from drillkit.backup.swap import install_dir
from drillkit.errors import ModelRepositoryError, StartupError
from drillkit.model import repository
from drillkit.model.recommender import Recommender
from drillkit.platforms.base import (
    ComponentKind,
    ComponentStatus,
    EnvironmentStatus,
    Health,
)
from drillkit.spec import EnvironmentSpec, RegionRole, RegionSpec
from drillkit.undo import UndoLog
from tests.fakes.http import serve

if TYPE_CHECKING:
    from tests.unit.backup_fixtures import MakeRepo

pytest_plugins = ["tests.unit.backup_fixtures"]  # the repositories and both stores

SOURCE = Source(environment="t", region="primary")


def model_handler(model: Recommender) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            length = int(self.headers["Inference-Header-Content-Length"])
            values = _inputs(json.loads(body[:length]), body[length:])
            users = np.array([values["user_id"]], np.int64)
            if "query" in values:
                ids, scores = model.search_host([values["query"]], users, values["k"])
            else:
                ids, scores = model.recommend_host(users, values["k"])
            ids, scores = ids.reshape(-1).astype(np.int64), scores.reshape(-1).astype(np.float32)
            outputs = [{"name": n, "datatype": t, "shape": [1, len(ids)], "parameters": {"binary_data_size": a.nbytes}}
                       for n, t, a in (("item_ids", "INT64", ids), ("scores", "FP32", scores))]  # fmt: skip
            head = json.dumps({"model_name": "x", "outputs": outputs}).encode()
            payload = head + ids.tobytes() + scores.tobytes()
            self.send_response(200)
            self.send_header("Inference-Header-Content-Length", str(len(head)))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _inputs(request: dict, blob: bytes) -> dict:  # type: ignore[type-arg]
    values, offset = {}, 0
    for tensor in request["inputs"]:
        raw = blob[offset : offset + tensor["parameters"]["binary_data_size"]]
        offset += len(raw)
        kinds = {"INT64": np.int64, "INT32": np.int32}
        values[tensor["name"]] = raw[4:].decode() if tensor["datatype"] == "BYTES" else int(np.frombuffer(raw, kinds[tensor["datatype"]])[0])
    return values


@contextmanager
def serve_model(version_dir: Path) -> Iterator[str]:
    """Like a node: verify the manifest first (refuse on failure), then serve the model."""
    try:
        repository.verify(version_dir)
    except ModelRepositoryError as exc:
        raise StartupError(f"node exited during start-up:\nrefusing to serve: {exc}") from None
    weights = {p.stem: np.load(p) for p in sorted((version_dir / "weights").glob("*.npy"))}
    with serve(model_handler(Recommender(weights, "cpu"))) as url:
        yield url


class FolderPlatform:
    """The Platform seam with one node per region; ``verifier_dir`` makes the verification node
    load another model (a node whose answers differ from the golden ones)."""

    def __init__(self, root: Path, *, verifier_dir: Path | None = None) -> None:
        self.spec = EnvironmentSpec(name="t", state_dir=root, regions=(RegionSpec(name="primary", role=RegionRole.PRIMARY, nodes=1),
                                    RegionSpec(name="standby", role=RegionRole.STANDBY, nodes=1)))  # fmt: skip
        self.name, self.root, self.verifier_dir = "t", root / "t", verifier_dir
        self.nodes: dict[str, tuple[str, object]] = {}
        self.restarted: list[str] = []
        self.verified: list[Path] = []

    def region_repository(self, region: str) -> Path:
        return self.root / "regions" / region / "models"

    def switch_repository(self, region: str, new_dir: Path) -> None:
        install_dir(new_dir, self.region_repository(region))

    @contextmanager
    def verification_node(self, region: str, repo: Path) -> Iterator[str]:
        self.verified.append(repo)
        with serve_model(self.verifier_dir or repo / self.spec.model.version) as url:
            yield url

    def node_names(self, region: str | None = None) -> list[str]:
        return [f"{r.name}-0" for r in self.spec.regions if region in (None, r.name)]

    def restart_nodes(self, nodes: list[str]) -> None:
        for node in nodes:
            self.stop(node)
            context = serve_model(self.region_repository(node.split("-")[0]) / self.spec.model.version)
            self.nodes[node] = (context.__enter__(), context)
            self.restarted.append(node)

    def stop(self, node: str) -> None:
        if node in self.nodes:
            self.nodes.pop(node)[1].__exit__(None, None, None)  # type: ignore[attr-defined]

    def status(self) -> EnvironmentStatus:
        rows = tuple(ComponentStatus(name=n, kind=ComponentKind.NODE, region=n.split("-")[0], health=Health.READY, endpoint=url)
                     for n, (url, _) in self.nodes.items())  # fmt: skip
        return EnvironmentStatus(environment="t", platform="fake", up=True, components=rows)

    def undo_log(self) -> UndoLog:
        return UndoLog(self.root / "undo.jsonl")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[FolderPlatform]:
    p = FolderPlatform(tmp_path)
    yield p
    for node in list(p.nodes):
        p.stop(node)


def test_a_destroyed_region_is_restored_verified_and_served(platform: FolderPlatform, make_repo: MakeRepo, tmp_path: Path) -> None:
    live = platform.region_repository("primary")
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    backup = store.create(make_repo(live, "v1", "v2"), SOURCE)
    lost = live.rename(tmp_path / "lost")  # the region's repository is gone
    report = restore_region(platform, store, "primary")
    assert report.backup_id == backup.id and report.versions == ("v1", "v2") and report.refused == ()
    assert report.golden_identical and "every node of primary (1)" in report.golden_detail
    assert report.started_at <= report.verified_at <= report.ended_at and report.bytes == sum(f.size for f in backup.files)
    assert repository.versions(live) == ["v1", "v2"] and repository.verify(live / "v1").sha256 == backup.versions["v1"]
    assert platform.verified[0].name.startswith(".models.restore-") and not platform.verified[0].exists()  # switched in
    assert platform.restarted == ["primary-0"] and region_serves(platform, "primary")
    assert lost.exists()


def test_a_corrupted_backup_is_refused_naming_the_object_and_fallback_takes_the_older(
    platform: FolderPlatform, make_repo: MakeRepo, tmp_path: Path
) -> None:
    live = platform.region_repository("primary")
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    older = store.create(make_repo(live, "v1"), SOURCE)
    newer = store.create(make_repo(live, "v2"), SOURCE)
    rotten = next(f for f in newer.files if f.path == "v2/weights/item_bias.npy")
    (tmp_path / "store" / object_key(rotten.sha256)).write_bytes(b"rotten")
    with pytest.raises(RestoreFailed) as failed:
        restore_region(platform, store, "primary")
    assert f"backup {newer.id} refused: {object_key(rotten.sha256)}: v2/weights/item_bias.npy" in str(failed.value)
    assert "--backup ID" in str(failed.value) and repository.versions(live) == ["v1", "v2"]  # live left alone
    assert not list(live.parent.glob(".models.restore-*"))  # the fresh folder is cleaned up
    report = restore_region(platform, store, "primary", fallback=True)
    assert report.backup_id == older.id and [(r.backup_id, r.object) for r in report.refused] == [(newer.id, object_key(rotten.sha256))]
    assert repository.versions(live) == ["v1"]
    assert restore_region(platform, store, "primary", backup_id=older.id).refused == ()  # --backup picks one


def test_a_backup_without_the_served_version_is_refused(platform: FolderPlatform, make_repo: MakeRepo, tmp_path: Path) -> None:
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    backup = store.create(make_repo(tmp_path / "other", "v2"), SOURCE)
    with pytest.raises(RestoreFailed, match=rf"backup {backup.id} refused: v1/: the backup holds \['v2'\], not v1"):
        restore_region(platform, store, "primary")
    with pytest.raises(RestoreFailed, match="no backup in .* run `drillkit backup create` first"):
        restore_region(platform, BackupStore(LocalBlobs(tmp_path / "empty")), "primary")


def test_answers_that_differ_from_the_golden_ones_on_the_verification_node_are_refused(
    make_repo: MakeRepo, built_versions: Path, tmp_path: Path
) -> None:
    platform = FolderPlatform(tmp_path, verifier_dir=built_versions / "v2")  # a node answering with another model
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    store.create(make_repo(platform.region_repository("primary"), "v1"), SOURCE)
    with pytest.raises(RestoreFailed, match="golden answers differ on Triton: recommend probe 0: item_ids: row 0 shares 0 of 10 ids"):
        restore_region(platform, store, "primary")
    assert platform.restarted == []  # nothing was switched or restarted


def test_a_node_that_refuses_the_model_refuses_the_backup(make_repo: MakeRepo, tmp_path: Path) -> None:
    broken = make_repo(tmp_path / "broken", "v1") / "v1"
    (broken / "weights" / "item_bias.npy").write_bytes(b"x")
    platform = FolderPlatform(tmp_path, verifier_dir=broken)
    store = BackupStore(LocalBlobs(tmp_path / "store"))
    store.create(make_repo(platform.region_repository("primary"), "v1"), SOURCE)
    with pytest.raises(RestoreFailed, match="could not load it: refusing to serve: .*item_bias.npy"):
        restore_region(platform, store, "primary")
    assert not region_serves(platform, "primary")  # no node runs


def fixed_answer_handler(ids: list[int], scores: list[float]) -> type[BaseHTTPRequestHandler]:
    class Fixed(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            a, b = np.array(ids, np.int64), np.array(scores, np.float32)
            outputs = [{"name": n, "datatype": t, "shape": [1, 3], "parameters": {"binary_data_size": x.nbytes}}
                       for n, t, x in (("item_ids", "INT64", a), ("scores", "FP32", b))]  # fmt: skip
            head = json.dumps({"model_name": "x", "outputs": outputs}).encode()
            self.send_response(200)
            self.send_header("Inference-Header-Content-Length", str(len(head)))
            self.send_header("Content-Length", str(len(head) + a.nbytes + b.nbytes))
            self.end_headers()
            self.wfile.write(head + a.tobytes() + b.tobytes())

        def log_message(self, *args: object) -> None:
            pass

    return Fixed


@pytest.mark.parametrize(
    ("ids", "scores", "identical"),
    [
        ([10, 11, 12], [0.9, 0.5, 0.5], True),
        ([10, 12, 11], [0.9, 0.5, 0.5], True),  # a near-tie in another order (as a GPU may give)
        ([11, 10, 12], [0.9, 0.5, 0.5], False),  # item 11 scored 0.9: another model
        ([10, 11, 13], [0.9, 0.5, 0.5], False),  # 2 of 3 items: below 90% in common
        ([10, 11, 12], [0.9, 0.5, 0.49], False),
    ],
)
def test_golden_answers_must_match_item_for_item(ids: list[int], scores: list[float], identical: bool) -> None:
    from drillkit.backup.golden import golden_identical
    from drillkit.model.repository import Golden, Manifest, RecommendProbe
    from drillkit.workload.golden import from_builtin

    golden = Golden(recommend=(RecommendProbe(7, 3, (10, 11, 12), (0.9, 0.5, 0.5)),), search=())
    manifest = Manifest("v1", "2026-01-01", {}, {}, golden, "0" * 64)
    with serve(fixed_answer_handler(ids, scores)) as url:
        assert golden_identical(url, from_builtin(manifest))[0] is identical
