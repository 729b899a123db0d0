"""KServe v2 tensors: the JSON form (traces, golden answers) and numpy, both ways.

A tensor in JSON is ``{"name", "datatype", "shape", "data"}`` (the KServe v2 inference
protocol); ``data`` is flat in row-major order or nested, BYTES elements are UTF-8 strings.
Every tensor read from a file is untrusted: its name, datatype and shape are checked, and
its element count is bounded and must equal the shape's product.

>>> t = Tensor.of({"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1]})
>>> t.array.dtype, t.array.shape
(dtype('float32'), (1, 2))
>>> to_json(t)
{'name': 'features', 'datatype': 'FP32', 'shape': [1, 2], 'data': [0.5, 1.0]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Datatype = Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                   "FP16", "FP32", "FP64", "BYTES"]  # fmt: skip
DTYPES: dict[str, type] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}  # fmt: skip
FLOATS = frozenset({"FP16", "FP32", "FP64"})
MAX_ELEMENTS = 1 << 20  # one request's tensor; a trace row or golden answer is far smaller
MAX_RANK = 8
TENSOR_NAME = r"^[A-Za-z0-9_.:/-][A-Za-z0-9_.:/ -]{0,127}$"  # Triton allows more; this is what any real model uses


class TensorFile(BaseModel):
    """One KServe v2 JSON tensor, as read from an untrusted file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=True)

    name: str = Field(pattern=TENSOR_NAME, description="the tensor's name in the model's config")
    datatype: Datatype
    shape: tuple[int, ...] = Field(max_length=MAX_RANK)
    data: list[Any] = Field(max_length=MAX_ELEMENTS)
    parameters: dict[str, Any] | None = Field(None, description="KServe v2 tensor parameters (kept, not used)")

    @model_validator(mode="after")
    def _shape_fits(self) -> TensorFile:
        if any(d < 0 or d > MAX_ELEMENTS for d in self.shape):
            raise ValueError(f"shape {list(self.shape)} needs dimensions 0..{MAX_ELEMENTS} (a request has no -1)")
        if math.prod(self.shape) > MAX_ELEMENTS:
            raise ValueError(f"shape {list(self.shape)} holds more than {MAX_ELEMENTS} elements")
        return self


@dataclass(frozen=True, eq=False)
class Tensor:
    """A validated tensor: its name, KServe datatype and the numpy array of its shape."""

    name: str
    datatype: str
    array: np.ndarray

    @classmethod
    def of(cls, raw: Mapping[str, Any] | TensorFile) -> Tensor:
        """A tensor from its JSON form; ValueError says what is wrong."""
        try:
            file = raw if isinstance(raw, TensorFile) else TensorFile.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where + ': ' if where else ''}{first['msg']}") from None
        return cls(file.name, file.datatype, _array(file))

    @classmethod
    def from_numpy(cls, name: str, array: np.ndarray) -> Tensor:
        return cls(name, datatype_of(array), array)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape)


def _array(file: TensorFile) -> np.ndarray:
    flat = _flatten(file.data)
    if len(flat) != math.prod(file.shape):
        raise ValueError(f"data has {len(flat)} elements, shape {list(file.shape)} needs {math.prod(file.shape)}")
    if file.datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise ValueError("BYTES data must be strings")
        return np.array([v.encode() for v in flat], dtype=np.object_).reshape(file.shape)
    if file.datatype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise ValueError("BOOL data must be true or false")
        return np.array(flat, dtype=np.bool_).reshape(file.shape)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise ValueError(f"{file.datatype} data must be numbers")
    dtype = np.dtype(DTYPES[file.datatype])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not all(isinstance(v, int) or float(v).is_integer() for v in flat):
            raise ValueError(f"{file.datatype} data must be integers")
        if flat and not (info.min <= min(flat) and max(flat) <= info.max):
            raise ValueError(f"{file.datatype} data must lie in {info.min}..{info.max}")
    return np.array(flat, dtype=dtype).reshape(file.shape)


def _flatten(data: list[Any], depth: int = 0) -> list[Any]:
    if depth > MAX_RANK:
        raise ValueError(f"data nests deeper than {MAX_RANK} levels")
    if not any(isinstance(v, list) for v in data):
        return data
    out: list[Any] = []
    for v in data:
        out.extend(_flatten(v, depth + 1) if isinstance(v, list) else [v])
        if len(out) > MAX_ELEMENTS:
            raise ValueError(f"data holds more than {MAX_ELEMENTS} elements")
    return out


def to_json(tensor: Tensor) -> dict[str, Any]:
    """The tensor's KServe v2 JSON form (flat data; BYTES as UTF-8 text)."""
    flat = tensor.array.reshape(-1)
    if tensor.datatype == "BYTES":
        data: list[Any] = [v.decode() if isinstance(v, bytes) else str(v) for v in flat.tolist()]
    else:
        data = flat.tolist()
    return {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape), "data": data}


def datatype_of(array: np.ndarray) -> str:
    """The KServe datatype of a numpy array (bytes and str arrays are BYTES)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    for name, dtype in DTYPES.items():
        if dtype is not np.object_ and array.dtype == np.dtype(dtype):
            return name
    raise ValueError(f"no KServe datatype for numpy {array.dtype}")


def utf8(array: np.ndarray) -> bool:
    """Whether every element of a BYTES array is UTF-8 text (what the JSON form can hold)."""
    try:
        for v in array.reshape(-1).tolist():
            (v if isinstance(v, bytes) else str(v).encode()).decode()
    except UnicodeDecodeError:
        return False
    return True
