"""Restore drills on the real 2x2 stack: data loss and corruption, backups, RPO, Triton-verified restores."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drillkit import supervise
from drillkit.backup import BackupManifest, store_for
from drillkit.backup.manifest import object_key
from drillkit.drill import run_drill
from drillkit.model.build import build
from drillkit.model.repository import publish, versions
from drillkit.plan import plan_drill
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.local_state import load_state
from drillkit.platforms.provision import model_params
from drillkit.request_log import read_request_log
from drillkit.spec import BackupSpec, GatewaySpec, RegionRole, RegionSpec, StoreSpec
from tests.integration.conftest import make_spec
from tests.integration.test_drills import assert_healthy
from tests.schema import assert_valid_journal

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TRACE = REPO / "loadtests/traces/drill.parquet"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPlatform, Path]]:
    """A running 1x1 stack (the restore path is per region, not per node) whose scheduled backup
    child took a baseline backup at start."""
    folder = tmp_path_factory.mktemp("restore")
    spec = make_spec(folder / "state", name="restore").model_copy(update={
        "regions": (RegionSpec(name="primary", role=RegionRole.PRIMARY, nodes=1), RegionSpec(name="standby", role=RegionRole.STANDBY, nodes=1)),
        "gateway": GatewaySpec(check_interval_ms=100, fall=1, rise=1),
        "backup": BackupSpec(every=3600, store=StoreSpec(path=folder / "other-region-store")),
    })  # fmt: skip
    env_file = folder / "env.yaml"
    env_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    platform = LocalPlatform(spec, spec_file=str(env_file))
    platform.up()
    scheduler = load_state(platform.state_path).backup  # type: ignore[union-attr]
    try:
        yield platform, env_file
    finally:
        platform.down()
    assert scheduler is not None and not supervise.alive(scheduler)  # `down` ends the scheduled backups


def new_version(platform: LocalPlatform, name: str, seed_offset: int) -> Path:
    """A retrained model version (another seed) in the environment's build cache."""
    params = model_params(platform.spec.model)
    root = platform.root.parent / "models"
    return build(root, name, params.__class__(**{**params.__dict__, "seed": params.seed + seed_offset}), created_at="2026-11-24T00:00:00Z")


def restore_drill(folder: Path, env_file: Path, base: str, name: str) -> Path:
    experiment = yaml.safe_load((REPO / "chaos" / f"{base}.yaml").read_text())
    experiment["method"][0]["pauses"] = {"after": 1}
    (folder / f"{base}.yaml").write_text(yaml.safe_dump(experiment))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "environment": str(env_file), "experiment": str(folder / f"{base}.yaml"),
        "load": {"trace": str(TRACE), "warmup_s": 2, "cooldown_s": 2},
        "recovery": {"rto_budget_s": 5, "stable_for_s": 2, "rpo_budget_s": 120, "restore_budget_s": 60},
        "bring_up": False,
    }))  # fmt: skip
    return path


def verdicts(journal: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {c["name"]: c["verdict"] for c in journal["checks"]}


def test_data_loss_is_restored_from_the_last_backup_with_rpo_and_lost_versions_measured(
    env: tuple[LocalPlatform, Path], tmp_path: Path
) -> None:
    platform, env_file = env
    state = load_state(platform.state_path)
    assert state is not None and state.backup is not None and supervise.alive(state.backup)
    store = store_for(platform.spec, platform.root)
    deadline = time.monotonic() + 30
    while not store.list() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(store.list()[-1].versions) == ["v1"]  # the scheduler's baseline, taken at `up`

    primary = platform.region_repository("primary")
    publish(new_version(platform, "v2", 1), primary)  # what `drillkit model publish --region primary` does
    backup = store.create(primary, store.list()[0].source)
    publish(new_version(platform, "v3", 2), primary)  # written after the last backup: lost with the repository
    assert list(backup.versions) == ["v1", "v2"] and versions(primary) == ["v1", "v2", "v3"]

    result = run_drill(plan_drill(restore_drill(tmp_path, env_file, "data-loss-restore", "dataloss")), reports=tmp_path / "r")
    journal = assert_valid_journal(result.run_dir / "journal.json")
    r = journal["restore"]
    destroyed = next(e for e in platform.undo_log().entries() if e.fault == "destroy_model_repository")
    assert r["backup_id"] == backup.id and r["refused"] == []
    assert abs(r["rpo_s"] - (destroyed.recorded_at - backup.created_at)) <= 1.0, r
    assert r["versions_lost"] == ["v3"] and r["versions_lost_count"] == 1
    assert r["golden_identical"] is True and 0 < r["restore_time_s"] <= 60
    assert {k: v for k, v in verdicts(journal).items() if k in ("rpo", "restore_time", "restored_answers", "recovery")} == {
        "rpo": "PASS", "restore_time": "PASS", "restored_answers": "PASS", "recovery": "PASS"}, journal["checks"]  # fmt: skip
    log = read_request_log(result.run_dir / "request_log")
    meanwhile = log[(log["scheduled_at"] > journal["fault_start"] + 1) & (log["scheduled_at"] < r["restore_verified_at"])]
    served = meanwhile.loc[meanwhile["outcome"] == "ok", "region"]
    assert len(served) > 100 and set(served) == {"standby"}  # the standby serves while the primary is restored
    assert versions(platform.region_repository("primary")) == ["v1", "v2"]
    assert_healthy(platform)


def test_a_corrupted_backup_is_refused_and_the_previous_one_restores(env: tuple[LocalPlatform, Path], tmp_path: Path) -> None:
    platform, env_file = env
    store = store_for(platform.spec, platform.root)
    publish(new_version(platform, "v4", 3), platform.region_repository("primary"))
    newest: BackupManifest = store.create(platform.region_repository("primary"), store.list()[0].source)
    previous = store.list()[1]
    rotten = next(f for f in newest.files if f.path == "v4/weights/item_embeddings.npy")
    assert rotten.sha256 not in previous.objects()
    path = platform.spec.backup.store.path / object_key(rotten.sha256)  # type: ignore[union-attr]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot in the other region's storage
    path.write_bytes(bytes(data))

    result = run_drill(plan_drill(restore_drill(tmp_path, env_file, "corrupt-weights", "corrupt")), reports=tmp_path / "r")
    journal = assert_valid_journal(result.run_dir / "journal.json")
    r = journal["restore"]
    assert [(x["backup_id"], x["object"]) for x in r["refused"]] == [(newest.id, object_key(rotten.sha256))]
    assert "v4/weights/item_embeddings.npy: sha256 mismatch" in r["refused"][0]["reason"]
    assert r["backup_id"] == previous.id and r["golden_identical"] is True
    assert verdicts(journal)["restored_answers"] == "PASS" and verdicts(journal)["restore_time"] == "PASS"
    assert_healthy(platform)
