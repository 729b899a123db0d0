"""Benchmark of backups and restores of a 1M-item model repository (``make bench``; not in ``make test``).

1. Build a 1,000,000-item model version (weights, catalog, manifest with golden answers).
2. Local store (a folder on this disk): full backup, incremental backup (nothing changed:
   every file is re-hashed against its manifest, no object is copied), ``verify`` (re-hash
   every object), and the restore's checksum stage (fetch every object re-hashing it, then
   verify the version against its manifest), in MB/s of repository size.
3. The same against S3 over HTTP on 127.0.0.1 (moto's server: boto3 and the wire protocol
   are real, the server keeps objects in memory, so this is not a figure for AWS).
4. End to end (``--no-e2e`` skips it): a 1x1 environment serving the 1M-item model; its
   repository is deleted and restored: fetch, checksums, a real Triton load with the golden
   answers compared, the atomic switch and the node restarted onto it, until it serves.

Run it when the machine is quiet: ``flock /tmp/drillkit-heavy.lock python -m tests.benchmarks.bench_backup``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drillkit.backup.blobs import LocalBlobs
from drillkit.backup.manifest import Source
from drillkit.backup.restore import restore_region
from drillkit.backup.s3 import S3Blobs, s3_client
from drillkit.backup.store import BackupStore
from drillkit.model.build import build
from drillkit.model.catalog import ModelParams
from drillkit.model.repository import verify
from drillkit.platforms.local import LocalPlatform
from drillkit.spec import (
    BackupSpec,
    EnvironmentSpec,
    ModelSpec,
    RegionRole,
    RegionSpec,
    StoreSpec,
)

ITEMS = 1_000_000
SOURCE = Source(environment="bench", region="primary")
console = Console()


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def store_figures(name: str, store: BackupStore, repo: Path, scratch: Path, mb: float) -> list[list[str]]:
    """Full and incremental backup, verify, and the restore's checksum stage."""
    full_s, backup = timed(lambda: store.create(repo, SOURCE))
    again_s, again = timed(lambda: store.create(repo, SOURCE))
    assert again.new_objects == 0  # type: ignore[attr-defined]
    verify_s, results = timed(store.verify)
    assert all(r.ok for r in results)  # type: ignore[attr-defined]
    out = scratch / f"restore-{name}"
    fetch_s, _ = timed(lambda: store.fetch(backup, out))  # type: ignore[arg-type]
    check_s, _ = timed(lambda: verify(out / "v1"))
    shutil.rmtree(out)
    rows = [("backup, full", full_s), ("backup, incremental (no change)", again_s), ("verify (re-hash every object)", verify_s),
            ("restore: fetch + re-hash", fetch_s), ("restore: checksum stage (fetch + manifest verify)", fetch_s + check_s)]  # fmt: skip
    return [[name, what, f"{s:.2f}", f"{mb / s:.0f}"] for what, s in rows]


def e2e(built: Path, scratch: Path) -> list[str]:
    """Delete a serving region's repository and restore it until the node serves verified."""
    state = scratch / "state"
    (state / "models").mkdir(parents=True)
    shutil.copytree(built / "v1", state / "models" / "v1")
    spec = EnvironmentSpec(
        name="benchbackup", state_dir=state,
        regions=(RegionSpec(name="primary", role=RegionRole.PRIMARY, nodes=1), RegionSpec(name="standby", role=RegionRole.STANDBY, nodes=1)),
        model=ModelSpec(items=ITEMS), backup=BackupSpec(store=StoreSpec(path=scratch / "e2e-store")),
    )  # fmt: skip
    platform = LocalPlatform(spec, start_timeout_s=600)
    up_s, _ = timed(platform.up)
    try:
        store = BackupStore(LocalBlobs(scratch / "e2e-store"))
        store.create(platform.region_repository("primary"), SOURCE)
        shutil.rmtree(platform.region_repository("primary"))
        report = restore_region(platform, store, "primary")
    finally:
        platform.down()
    return [f"{up_s:.1f}", f"{report.verified_at - report.started_at:.1f}", f"{report.ended_at - report.verified_at:.1f}",
            f"{report.restore_time_s:.1f}", str(report.golden_identical)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end restore with a real Triton load")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto server) store")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        build_s, _ = timed(lambda: build(scratch / "built", "v1", ModelParams(items=ITEMS), created_at="2026-11-24T00:00:00Z"))
        repo = scratch / "built"
        mb = sum(p.stat().st_size for p in (repo / "v1").rglob("*") if p.is_file()) / 1e6
        console.print(f"1M-item repository: {mb:.0f} MB in {len(list((repo / 'v1').rglob('*.*')))} files, built in {build_s:.0f} s")
        rows = store_figures("local folder", BackupStore(LocalBlobs(scratch / "store")), repo, scratch, mb)
        if not args.no_s3:
            rows += s3_rows(repo, scratch, mb)
        table = Table(title=f"backup and restore of a {mb:.0f} MB repository ({ITEMS:,} items)", title_justify="left")
        for column in ("store", "step", "seconds", "MB/s"):
            table.add_column(column, justify="right" if column in ("seconds", "MB/s") else "left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if not args.no_e2e:
            end = Table(title="end to end: repository deleted, restored until the node serves verified", title_justify="left")
            for column in ("up s", "fetch+checksums+Triton golden s", "switch+restart s", "restore s", "golden identical"):
                end.add_column(column, justify="right")
            end.add_row(*e2e(repo, scratch))
            console.print(end)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def s3_rows(repo: Path, scratch: Path, mb: float) -> list[list[str]]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        spec = StoreSpec(kind="s3", bucket=bucket, endpoint=f"http://{host}:{port}")
        client = s3_client(spec, {"DRILLKIT_S3_ACCESS_KEY_ID": "bench", "DRILLKIT_S3_SECRET_ACCESS_KEY": "bench"})
        client.create_bucket(Bucket=bucket)
        return store_figures("S3 (moto, loopback)", BackupStore(S3Blobs(client, bucket, "bench")), repo, scratch, mb)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
