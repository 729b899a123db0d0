"""Errors of backups and restores (under ``EnvironmentFailure``: the store or the data failed).

```
EnvironmentFailure
└── BackupError             the store is unreachable, refuses us, or holds no such backup
    ├── BackupRefused       a backup failed verification: names the backup and the object
    └── RestoreFailed       no candidate backup could be restored (each refusal attached)
```
"""

from __future__ import annotations

from drillkit.errors import EnvironmentFailure


class BackupError(EnvironmentFailure):
    """The backup store failed (unreachable, no credentials) or has no such backup."""


class BackupRefused(BackupError):
    """A backup is corrupted or incomplete: it is refused, never restored.

    >>> str(BackupRefused("20260101T000000.000Z-ab12", "v1/weights/item_embeddings.npy", "sha256 mismatch"))
    'backup 20260101T000000.000Z-ab12 refused: v1/weights/item_embeddings.npy: sha256 mismatch'
    """

    def __init__(self, backup_id: str, object: str, reason: str) -> None:
        self.backup_id, self.object, self.reason = backup_id, object, reason
        super().__init__(f"backup {backup_id} refused: {object}: {reason}")


class RestoreFailed(BackupError):
    """No backup could be restored; ``refusals`` says why each candidate was refused."""

    def __init__(self, message: str, refusals: list[BackupRefused]) -> None:
        self.refusals = refusals
        super().__init__(message)
