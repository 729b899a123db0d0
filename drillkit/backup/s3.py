"""S3-compatible object storage as the backup store's key/value layer (boto3).

Credentials come only from the environment: ``DRILLKIT_S3_ACCESS_KEY_ID``,
``DRILLKIT_S3_SECRET_ACCESS_KEY`` and ``DRILLKIT_S3_SESSION_TOKEN`` when set, otherwise
boto3's own chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, roles).
A custom endpoint (MinIO, Ceph, moto) is addressed path-style.

>>> blobs = S3Blobs(s3_client(StoreSpec(kind="s3", bucket="b", endpoint="http://127.0.0.1:9000")), "b", "p")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drillkit.backup.blobs import CHUNK, BlobInfo, BlobMissing
from drillkit.backup.errors import BackupError
from drillkit.spec.backup import StoreSpec

_MISSING = {"404", "NoSuchKey", "NotFound"}


def s3_client(spec: StoreSpec, environ: Mapping[str, str] = os.environ) -> Any:
    """A boto3 S3 client for ``spec`` with credentials from ``environ`` (or boto3's chain)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=environ.get("DRILLKIT_S3_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("DRILLKIT_S3_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("DRILLKIT_S3_SESSION_TOKEN"),
    )
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                    s3={"addressing_style": "path"} if spec.endpoint else {})  # fmt: skip
    region = spec.region_name or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return session.client("s3", endpoint_url=spec.endpoint, region_name=region, config=config)


class S3Blobs:
    """Keys under ``prefix`` in ``bucket``. A PUT is atomic; a multipart upload appears whole.

    Attributes:
        client: a boto3 S3 client (injected: tests point it at a local S3 server).
        bucket, prefix: where the store lives.
        where: ``s3://bucket/prefix`` for messages.
    """

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/")
        self.where = f"s3://{bucket}/{self.prefix}"

    def exists(self, key: str) -> bool:
        try:
            with self._errors("HEAD", key):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except BlobMissing:
            return False
        return True

    def put_file(self, key: str, path: Path) -> None:
        with self._errors("upload", key):
            self.client.upload_file(str(path), self.bucket, self._key(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._errors("PUT", key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def read(self, key: str) -> Iterator[bytes]:
        with self._errors("GET", key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            yield from body.iter_chunks(CHUNK)

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.read(key))

    def list(self, prefix: str) -> list[BlobInfo]:
        infos = []
        with self._errors("LIST", prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) + 1 :] if self.prefix else item["Key"]
                    infos.append(BlobInfo(key, int(item["Size"]), item["LastModified"].timestamp()))
        return sorted(infos, key=lambda i: i.key)

    def delete(self, key: str) -> None:
        with self._errors("DELETE", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def touch(self, key: str) -> None:
        # A server-side copy onto itself renews LastModified without moving the bytes. The
        # copy gets a checksum of its own (a multipart upload's composite one no longer fits).
        # CopyObject stops at 5 GB: a larger object keeps the time of its upload.
        try:
            with self._errors("touch", key):
                self.client.copy_object(Bucket=self.bucket, Key=self._key(key), CopySource={"Bucket": self.bucket, "Key": self._key(key)},
                                        MetadataDirective="REPLACE", Metadata={"drillkit-touched": f"{time.time():.3f}"},
                                        ChecksumAlgorithm="CRC32")  # fmt: skip
        except BackupError as exc:
            if "InvalidRequest" not in str(exc) and "EntityTooLarge" not in str(exc):
                raise

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise BlobMissing(key) from None
            raise BackupError(f"{self.where}: {op} {key} failed: {code or exc}") from None
        except NoCredentialsError:
            raise BackupError(f"{self.where}: no S3 credentials: export DRILLKIT_S3_ACCESS_KEY_ID and "
                              "DRILLKIT_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)") from None  # fmt: skip
        except (BotoCoreError, Boto3Error) as exc:  # Boto3Error: e.g. S3UploadFailedError of upload_file
            raise BackupError(f"{self.where}: {op} {key} failed: {exc}") from None
