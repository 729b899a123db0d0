"""Shared fixtures of the backup tests: small model repositories and both stores.

The S3 store runs against moto's server mode: a real S3 HTTP endpoint on 127.0.0.1, so the
same suite exercises boto3, the wire protocol and the local folder alike.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.s3 import S3Blobs, s3_client
from drillkit.backup.store import BackupStore
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.spec import StoreSpec

PARAMS = ModelParams(items=500, dim=16, users=50, categories=6, vocab_size=100, hash_buckets=512, seed=3)
S3_ENV = {"DRILLKIT_S3_ACCESS_KEY_ID": "testing", "DRILLKIT_S3_SECRET_ACCESS_KEY": "testing"}


class Clock:
    """A settable unix clock."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def built_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1, v2 and v3 of a tiny model (different seeds: no file in common but params.json)."""
    root = tmp_path_factory.mktemp("built")
    for i, version in enumerate(("v1", "v2", "v3")):
        params = ModelParams(**{**PARAMS.__dict__, "seed": PARAMS.seed + i})
        build(root, version, params, created_at="2026-11-22T00:00:00Z")
    return root


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(built_versions: Path) -> MakeRepo:
    """``make_repo(dest, "v1", ...)``: a region repository (new or grown) holding copies of versions."""

    def make(dest: Path, *versions: str) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for version in versions:
            shutil.copytree(built_versions / version, dest / version)
        return dest

    return make


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_store(endpoint: str, clock: Clock) -> BackupStore:
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    client = s3_client(StoreSpec(kind="s3", bucket=bucket, endpoint=endpoint), S3_ENV)
    client.create_bucket(Bucket=bucket)
    return BackupStore(S3Blobs(client, bucket, "drills/backups"), clock=clock)


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_kind: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest) -> BackupStore:
    """The same suite against a local folder and a real S3 endpoint."""
    if store_kind == "local":
        return BackupStore(LocalBlobs(tmp_path / "store"), clock=clock)
    return s3_store(request.getfixturevalue("s3_endpoint"), clock)
