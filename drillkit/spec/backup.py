"""The ``backup`` section of an environment: where backups go, how often, how long they stay.

```yaml
backup:
  every: 60s              # a scheduled backup while the environment is up (null: none)
  region: primary         # whose model repository is backed up (default: the primary)
  keep_last: 24           # retention: the newest N backups ...
  keep_days: 7            # ... and every backup younger than D days (the newest is always kept)
  store:
    kind: local           # a folder standing in for the other region's object storage
    path: null            # default <state_dir>/<name>/backups
  # store: {kind: s3, endpoint: "http://127.0.0.1:9000", bucket: drillkit, prefix: prod}
```

S3 credentials never appear here: they come from ``DRILLKIT_S3_ACCESS_KEY_ID`` /
``DRILLKIT_S3_SECRET_ACCESS_KEY`` (``DRILLKIT_S3_SESSION_TOKEN``) or boto3's own chain
(``AWS_ACCESS_KEY_ID``..., profiles, instance roles), so they are never written to a journal.

>>> BackupSpec.model_validate({"every": "90s"}).every
90.0
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from drillkit.spec.loader import Spec
from drillkit.spec.names import RegionName
from drillkit.spec.safe import MAX_SECONDS, SafePath, SafeText

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: object) -> object:
    """``"60s"``, ``"5m"``, ``"1h"``, ``"1d"`` or a number of seconds -> seconds (float).

    >>> parse_duration("5m"), parse_duration(2)
    (300.0, 2.0)
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value) if abs(value) < 1e300 else float("inf")  # float(10**400) overflows
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write e.g. 60s, 5m, 1h or a number of seconds")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]  # a huge digit string reads as inf: refused by le


Duration = Annotated[float, BeforeValidator(parse_duration)]


class StoreKind(StrEnum):
    LOCAL = "local"  # a folder (default): stands in for the other region's object storage
    S3 = "s3"  # S3-compatible object storage through boto3


def _check_endpoint(value: str) -> str:
    """``value`` when it is ``http(s)://host[:port][/path]`` without credentials (never echoed)."""
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError("the endpoint carries credentials (user:secret@), which would be written to state files "
                         "and printed: remove them from the URL")  # fmt: skip
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number, or out of range
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError("the endpoint is not an http(s)://host[:port] URL")
    return value


class StoreSpec(Spec):
    kind: StoreKind = Field(StoreKind.LOCAL, description="local (a folder) or s3")
    path: SafePath | None = Field(None, description="local: the store's folder (default <state_dir>/<name>/backups)")
    # the URL is written to state files and printed, so it must not carry credentials
    model_config = ConfigDict(hide_input_in_errors=True)  # not even in a ValidationError's text

    endpoint: SafeText | None = Field(None, description="s3: endpoint URL, e.g. http://127.0.0.1:9000 (empty: AWS), without "
                                      "user:secret@; credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                                      "AWS_PROFILE or DRILLKIT_S3_ACCESS_KEY_ID / DRILLKIT_S3_SECRET_ACCESS_KEY")  # fmt: skip
    bucket: SafeText | None = Field(None, description="s3: the bucket (it must exist)")
    prefix: str = Field("drillkit", pattern=r"^[A-Za-z0-9._/-]*$", description="s3: key prefix inside the bucket")
    region_name: SafeText | None = Field(None, description="s3: the bucket's region, e.g. us-east-1")

    @field_validator("endpoint")
    @classmethod
    def _plain_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else _check_endpoint(value)

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> StoreSpec:
        if self.kind is StoreKind.S3 and not self.bucket:
            raise ValueError("store.kind s3 needs store.bucket")
        if self.kind is StoreKind.LOCAL and (self.bucket or self.endpoint):
            raise ValueError("store.bucket and store.endpoint are for kind: s3; set kind: s3 or remove them")
        return self

    def describe(self) -> str:
        """Where the store is, for messages (never with credentials)."""
        if self.kind is StoreKind.S3:
            return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint}" if self.endpoint else "")
        return str(self.path) if self.path else "<state_dir>/<name>/backups"


class BackupSpec(Spec):
    """Backups of a region's model repository (every version in it)."""

    every: Duration | None = Field(None, ge=1, le=MAX_SECONDS, description="scheduled backup period, e.g. 60s or 5m (null: none)")
    region: RegionName | None = Field(None, description="the region whose repository is backed up (default: the primary)")
    keep_last: int | None = Field(None, ge=1, le=1_000_000, description="retention: keep the newest N backups")
    keep_days: float | None = Field(None, gt=0, le=36_500, description="retention: keep backups younger than D days")
    store: StoreSpec = StoreSpec()
