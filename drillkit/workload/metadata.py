"""A live model's metadata (``GET /v2/models/<model>``) and requests checked against it.

The answer is untrusted like any file: it is validated before it is used. A request's
tensors must be the model's inputs by name, datatype and shape (``-1`` matches any size).

>>> meta = ModelMetadata.model_validate({"name": "ranker", "inputs": [{"name": "features", "datatype": "FP32",
...     "shape": [-1, 16]}], "outputs": [{"name": "score", "datatype": "FP32", "shape": [-1, 1]}]})
>>> mismatch(meta, [Tensor.from_numpy("features", np.zeros((1, 8), np.float32))])
'input features has shape [1, 8], the model takes [-1, 16]'
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drillkit.errors import ComponentError
from drillkit.workload.tensors import DTYPES, MAX_RANK, Datatype, Tensor

MAX_METADATA_BYTES = 1 << 20


class TensorMetadata(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=256)
    datatype: Datatype
    shape: tuple[int, ...] = Field(max_length=MAX_RANK)


class ModelMetadata(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=256)
    versions: tuple[str, ...] = Field((), max_length=10_000)
    platform: str = Field("", max_length=256)
    inputs: tuple[TensorMetadata, ...] = Field(max_length=1000)
    outputs: tuple[TensorMetadata, ...] = Field(max_length=1000)


def fetch_metadata(url: str, model: str, *, timeout_s: float = 5.0) -> ModelMetadata:
    """The metadata of ``model`` at the node or gateway ``url``; ComponentError says why not."""
    meta = served_metadata(url, model, timeout_s=timeout_s)
    if meta is None:
        raise ComponentError(f"{url} does not serve model {model} (GET /v2/models/{quote(model, safe='')} refused)")
    return meta


def served_metadata(url: str, model: str, *, timeout_s: float = 5.0) -> ModelMetadata | None:
    """``fetch_metadata``, or None when the server answers that it serves no such model (Triton:
    HTTP 400, others 404); any other failure is a ComponentError."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
    path = f"{parts.path.rstrip('/')}/v2/models/{quote(model, safe='')}"
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read(MAX_METADATA_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise ComponentError(f"cannot read the metadata of model {model} at {url}: {exc}") from None
    finally:
        conn.close()
    if response.status in (400, 404):
        return None
    if response.status != 200:
        raise ComponentError(f"{url} does not serve model {model} (GET {path}: HTTP {response.status})")
    if len(body) > MAX_METADATA_BYTES:
        raise ComponentError(f"the metadata of model {model} at {url} is larger than {MAX_METADATA_BYTES >> 10} KiB")
    try:
        return ModelMetadata.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise ComponentError(f"the metadata of model {model} at {url} is not KServe v2 model metadata: {exc}") from None


def mismatch(meta: ModelMetadata, inputs: Sequence[Tensor]) -> str | None:
    """What is wrong with ``inputs`` as a request to the model (None: nothing)."""
    declared = {t.name: t for t in meta.inputs}
    for tensor in inputs:
        want = declared.get(tensor.name)
        if want is None:
            return f"input {tensor.name} is not an input of model {meta.name} (its inputs: {', '.join(declared) or 'none'})"
        if tensor.datatype != want.datatype:
            return f"input {tensor.name} is {tensor.datatype}, the model takes {want.datatype}"
        if len(tensor.shape) != len(want.shape) or any(w != -1 and w != g for w, g in zip(want.shape, tensor.shape, strict=True)):
            return f"input {tensor.name} has shape {list(tensor.shape)}, the model takes {list(want.shape)}"
    missing = [name for name in declared if name not in {t.name for t in inputs}]
    if missing:
        return f"input {', '.join(missing)} of model {meta.name} is missing"
    return None


def synthesize(meta: ModelMetadata, rng: np.random.Generator) -> tuple[Tensor, ...]:
    """One request's inputs made up from the metadata alone (a variable dimension is 1):
    standard-normal floats, small integers, ``probe-<n>`` text."""
    tensors = []
    for t in meta.inputs:
        shape = tuple(1 if d == -1 else d for d in t.shape)
        if t.datatype == "BYTES":
            array = np.array([f"probe-{rng.integers(0, 1000)}".encode() for _ in range(int(np.prod(shape)))],
                             dtype=np.object_).reshape(shape)  # fmt: skip
        elif t.datatype == "BOOL":
            array = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif t.datatype.startswith(("INT", "UINT")):
            array = rng.integers(0, 10, size=shape).astype(DTYPES[t.datatype])
        else:
            array = rng.standard_normal(size=shape).astype(DTYPES[t.datatype])
        tensors.append(Tensor(t.name, t.datatype, array))
    return tuple(tensors)
