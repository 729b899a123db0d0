"""Pull a model version from object storage and verify it before anything serves it.

``python -m drillkit.model.fetch --source URL --version V --dest DIR`` is the init container
of every Triton pod on Kubernetes (and what ``drillkit up`` runs locally so that drills have
the manifest's golden answers). It reads ``<URL>/<V>/manifest.json``, streams every file the
manifest lists into a temporary folder beside ``DIR/V`` while hashing it, refuses the version
at the first sha256 mismatch, runs the full ``verify`` and renames the folder into place, so a
pod never starts on a partial or tampered copy. A version already in place that verifies is
kept (an init container may run twice).

The version's recorded golden answers (``golden.json``, which the manifest cannot list: they are
recorded after it, bound to its sha256) come too when ``golden`` is asked for (``drillkit up``
does; pods never read them): a copy without them gains them, and a ``golden.json`` bound to
another manifest refuses the fetch.

Sources: ``https://`` / ``http://`` (a public bucket's endpoint or any static server),
``s3://bucket/prefix`` (boto3; credentials and ``AWS_ENDPOINT_URL`` from the environment), and
``file://`` or a plain path. Exit codes: 0 ready, 2 refused (does not match its manifest),
1 the source failed.

>>> fetch_version("https://models.example.com/recsys", "v1", Path("/models"))   # doctest: +SKIP
PosixPath('/models/v1')
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from drillkit.errors import ModelRepositoryError
from drillkit.model.repository import GOLDEN, MANIFEST, verify

Reader = Callable[[str], Iterator[bytes]]  # relative path under the source -> chunks
_CHUNK = 1 << 20


def fetch_version(source: str, version: str, dest_root: Path, *, reader: Reader | None = None, golden: bool = False) -> Path:
    """Download ``<source>/<version>`` into ``dest_root/<version>``, verified; return that folder."""
    target = dest_root / version
    read = reader or open_source(source)
    if target.exists():
        try:
            manifest = verify(target)
        except ModelRepositoryError:
            shutil.rmtree(target)  # a broken earlier copy: fetch it again
        else:
            if golden and not (target / GOLDEN).exists():
                _fetch_golden(read, version, target, manifest.sha256, source)
            return target
    manifest = b"".join(read(f"{version}/{MANIFEST}"))
    files = _listed_files(manifest, source)
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=dest_root))
    try:
        for path, digest in files.items():
            _download(read, f"{version}/{path}", tmp / path, digest)
        (tmp / MANIFEST).write_bytes(manifest)
        digest = verify(tmp).sha256
        if golden:
            _fetch_golden(read, version, tmp, digest, source)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _fetch_golden(read: Reader, version: str, folder: Path, manifest_sha256: str, source: str) -> None:
    """``<version>/golden.json`` into ``folder`` when the source has one, checked against the
    manifest (ModelRepositoryError: recorded for another one, or not golden answers)."""
    from drillkit.workload.golden import MAX_GOLDEN_BYTES, load_golden

    try:
        data = _bounded(read(f"{version}/{GOLDEN}"), MAX_GOLDEN_BYTES, f"{source}/{version}/{GOLDEN}")
    except Exception as exc:  # every source's "no such file": drills say so when they need the answers
        if _missing(exc):
            return
        raise
    staged = folder / f".{GOLDEN}"
    staged.write_bytes(data)
    try:
        os.replace(staged, folder / GOLDEN)
        load_golden(folder, manifest_sha256)
    except ModelRepositoryError as exc:
        (folder / GOLDEN).unlink(missing_ok=True)
        raise ModelRepositoryError(f"{source}/{version}/{GOLDEN}: {exc}") from None


def _missing(exc: Exception) -> bool:
    """A source's own way of saying the file is not there (and nothing else: a 403 is an error)."""
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 404
    error = getattr(exc, "response", None)  # botocore's ClientError
    code = (error or {}).get("Error", {}).get("Code") if isinstance(error, dict) else None
    return code in ("NoSuchKey", "404")


def _bounded(chunks: Iterator[bytes], limit: int, where: str) -> bytes:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise ModelRepositoryError(f"{where} is larger than {limit >> 20} MiB: not golden answers")
    return bytes(data)


def _listed_files(manifest: bytes, source: str) -> dict[str, str]:
    try:
        files = json.loads(manifest)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelRepositoryError(f"{source}: manifest.json is not a model manifest ({exc})") from None
    for path in files:
        parts = PurePosixPath(path).parts
        if PurePosixPath(path).is_absolute() or ".." in parts or not parts:
            raise ModelRepositoryError(f"{source}: manifest.json lists {path!r}, outside the version folder: refused")
    return dict(files)


def _download(read: Reader, remote: str, local: Path, digest: str) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    with open(local, "wb") as out:
        for chunk in read(remote):
            hasher.update(chunk)
            out.write(chunk)
    if hasher.hexdigest() != digest:
        raise ModelRepositoryError(f"{remote} does not match its sha256 in manifest.json: refused (republish the version)")


def open_source(source: str) -> Reader:
    """A reader of files under ``source`` (https, http, s3, file or a path)."""
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        return lambda rel: _http_chunks(f"{source.rstrip('/')}/{rel}")
    if scheme == "s3":
        return _s3_reader(source)
    root = Path(urlsplit(source).path if scheme == "file" else source)
    return lambda rel: _file_chunks(root / rel)


def _http_chunks(url: str) -> Iterator[bytes]:
    with urllib.request.urlopen(url, timeout=60) as response:
        while chunk := response.read(_CHUNK):
            yield chunk


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def _s3_reader(source: str) -> Reader:
    import boto3  # only the s3 source needs it

    parts = urlsplit(source)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    client = boto3.client("s3")  # AWS_* and AWS_ENDPOINT_URL from the environment (the pod's Secret)

    def read(rel: str) -> Iterator[bytes]:
        key = f"{prefix}/{rel}" if prefix else rel
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_chunks(_CHUNK)

    return read


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drillkit.model.fetch", description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="https://, s3://, file:// URL or a path holding <version>/")
    parser.add_argument("--version", required=True)
    parser.add_argument("--dest", type=Path, required=True, help="repository root to place <version>/ in")
    args = parser.parse_args(argv)
    try:
        path = fetch_version(args.source, args.version, args.dest)
    except ModelRepositoryError as exc:
        print(f"refusing model {args.version}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001  (any source's transport error: the init container fails, k8s retries)
        print(f"cannot fetch model {args.version} from {args.source}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"model {args.version} verified at {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
