"""Backups of a region's model repository, and restores that are verified before they serve.

- ``store``: content-addressed, incremental snapshots (``objects/<sha256[:2]>/<sha256>``,
  one manifest per backup committed last), ``fetch`` and ``verify`` that re-hash every object;
- ``blobs`` / ``s3``: the key/value layer (a local folder, or S3-compatible storage via boto3);
- ``retention``: keep N / keep D days, then prune unreferenced objects;
- ``restore``: fetch into a fresh folder, verify every checksum, load the model in a real
  Triton node and compare the golden answers, switch atomically, bring the region's nodes
  onto it; a refused backup names the failing object, and an older one can be chosen;
- ``scheduler``: the supervised child that backs up every ``backup.every`` while an
  environment is up; ``damage``: the data faults (delete, flip bytes);
- ``section``: the journal's ``restore`` section (RPO, restore time, versions lost).

>>> store = store_for(load_environment("drills/environments/local.yaml"), Path(".drillkit/local"))  # doctest: +SKIP
>>> backup = store.create(repository_root, source_of(env))                                      # doctest: +SKIP
"""

from drillkit.backup.config import backup_spec, open_store, source_of, store_for
from drillkit.backup.errors import BackupError, BackupRefused
from drillkit.backup.manifest import BackupManifest, Source
from drillkit.backup.store import BackupStore

__all__ = [
    "BackupError", "BackupManifest", "BackupRefused", "BackupStore", "Source",
    "backup_spec", "open_store", "source_of", "store_for",
]  # fmt: skip
