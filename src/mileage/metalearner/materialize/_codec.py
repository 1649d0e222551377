"""Exact, pickle-free encoding of operator outputs as one blob of NumPy ``.npy`` parts.

A blob is ``MAGIC | header length (8 bytes, little-endian) | header JSON | parts``. The
header describes the value's structure (dicts, lists, frames, series, sparse matrices,
scalars) and where each ``.npy`` part starts. Parts are read with ``allow_pickle=False``,
so reading a blob never runs code. Object arrays are stored as strings plus a mask that
restores ``None`` and ``NaN``, and everything round-trips exactly (dtypes, index, column
labels, sparse format). Values that cannot round-trip exactly without pickle (extension
dtypes, MultiIndex, arbitrary objects) raise :class:`NotCacheableError`; the executor then
recomputes them instead of caching them.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np

from mileage.metalearner._errors import NotCacheableError

MAGIC = b"MLGBLOB1"
_LEN = struct.Struct("<Q")


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def array(self, arr: np.ndarray) -> int:
        if arr.dtype.hasobject:
            raise NotCacheableError("internal: object arrays must be encoded as strings")
        buf = io.BytesIO()
        np.save(buf, np.asarray(arr), allow_pickle=False)
        self.parts.append(buf.getvalue())
        return len(self.parts) - 1


def _scalar(value: Any) -> dict[str, Any]:
    if isinstance(value, float):
        if math.isnan(value):
            return {"t": "float", "v": "nan"}
        if math.isinf(value):
            return {"t": "float", "v": "inf" if value > 0 else "-inf"}
        return {"t": "float", "v": value}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": str(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    assert value is None
    return {"t": "none"}


def _unscalar(node: dict[str, Any]) -> Any:
    t = node["t"]
    if t == "float":
        return float(node["v"])
    if t == "bool":
        return bool(node["v"])
    if t == "int":
        return int(node["v"])
    if t == "str":
        return str(node["v"])
    return None


def _label(value: Any, what: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return _scalar(value)
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return _scalar(value.item())
    raise NotCacheableError(
        f"{what} {value!r} of type {type(value).__name__} cannot be stored without pickle"
    )


def _encode_object_array(arr: np.ndarray, w: _Writer) -> dict[str, Any]:
    flat = arr.ravel(order="C")
    kinds = np.zeros(flat.size, dtype=np.int8)
    strings: list[str] = []
    for i, v in enumerate(flat):
        if isinstance(v, str):
            strings.append(v)
        elif v is None:
            kinds[i] = 1
            strings.append("")
        elif isinstance(v, float) and math.isnan(v):
            kinds[i] = 2
            strings.append("")
        else:
            raise NotCacheableError(
                f"an object array holds a {type(v).__name__} ({v!r:.40}); only strings, None "
                "and NaN can be stored without pickle"
            )
    return {
        "t": "ndobj",
        "shape": list(arr.shape),
        "strings": w.array(np.array(strings, dtype=str)),
        "kinds": w.array(kinds),
    }


def _encode_array(arr: np.ndarray, w: _Writer) -> dict[str, Any]:
    if arr.dtype.hasobject:
        return _encode_object_array(arr, w)
    if arr.dtype.kind == "V":
        raise NotCacheableError("structured arrays cannot be stored; use a DataFrame")
    return {"t": "nd", "p": w.array(arr)}


def _encode_index(index: Any, w: _Writer) -> dict[str, Any]:
    import pandas as pd

    if isinstance(index, pd.MultiIndex):
        raise NotCacheableError("a MultiIndex cannot be stored without pickle; reset_index() it")
    name = _label(index.name, "index name")
    if isinstance(index, pd.RangeIndex):
        return {
            "t": "range",
            "start": index.start,
            "stop": index.stop,
            "step": index.step,
            "name": name,
        }
    values = index.to_numpy()
    if not isinstance(index.dtype, np.dtype):
        raise NotCacheableError(f"an index of dtype {index.dtype} cannot be stored")
    return {"t": "index", "values": _encode_array(values, w), "name": name}


def _encode_column(col: Any, w: _Writer) -> dict[str, Any]:
    import pandas as pd

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        return {
            "t": "cat",
            "codes": w.array(col.cat.codes.to_numpy()),
            "categories": _encode_index(cats, w),
            "ordered": bool(dtype.ordered),
        }
    if not isinstance(dtype, np.dtype):
        raise NotCacheableError(
            f"column {col.name!r} has extension dtype {dtype}; convert it to a NumPy dtype to "
            "cache it"
        )
    return _encode_array(col.to_numpy(), w)


def _encode(value: Any, w: _Writer) -> dict[str, Any]:
    if value is None or isinstance(value, bool | int | float | str):
        return _scalar(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, w)
    if isinstance(value, np.generic):
        if value.dtype.hasobject:
            raise NotCacheableError("object scalars cannot be stored")
        return {"t": "npscalar", "p": w.array(np.asarray(value))}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise NotCacheableError(f"dict key {k!r} is not a string")
            items.append([k, _encode(v, w)])
        return {"t": "dict", "items": items}
    if isinstance(value, list | tuple):
        return {
            "t": "list" if isinstance(value, list) else "tuple",
            "items": [_encode(v, w) for v in value],
        }
    module = type(value).__module__
    if module.startswith("scipy.sparse"):
        fmt = value.format
        csr = value.tocsr()
        return {
            "t": "sparse",
            "format": fmt,
            "array": type(value).__name__.endswith("_array"),
            "shape": list(csr.shape),
            "data": _encode_array(csr.data, w),
            "indices": w.array(csr.indices),
            "indptr": w.array(csr.indptr),
        }
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            if isinstance(value.columns, pd.MultiIndex):
                raise NotCacheableError("MultiIndex columns cannot be stored without pickle")
            return {
                "t": "df",
                "columns": [_label(c, "column label") for c in value.columns],
                "columns_dtype": str(value.columns.dtype),
                "cols": [_encode_column(value.iloc[:, i], w) for i in range(value.shape[1])],
                "index": _encode_index(value.index, w),
            }
        if isinstance(value, pd.Series):
            return {
                "t": "series",
                "name": _label(value.name, "series name"),
                "values": _encode_column(value, w),
                "index": _encode_index(value.index, w),
            }
    raise NotCacheableError(
        f"values of type {module}.{type(value).__qualname__} cannot be stored without pickle"
    )


def encode(value: Any) -> bytes:
    """Encode ``value`` as one blob.

    Raises:
        NotCacheableError: The value cannot round-trip exactly without pickle.
    """
    w = _Writer()
    tree = _encode(value, w)
    offsets = []
    pos = 0
    for part in w.parts:
        offsets.append([pos, len(part)])
        pos += len(part)
    header = json.dumps({"tree": tree, "parts": offsets}, separators=(",", ":")).encode()
    return b"".join([MAGIC, _LEN.pack(len(header)), header, *w.parts])


class _Reader:
    def __init__(self, blob: memoryview, base: int, parts: list[list[int]]) -> None:
        self.blob, self.base, self.parts = blob, base, parts

    def array(self, i: int) -> np.ndarray:
        off, n = self.parts[i]
        start = self.base + off
        arr: np.ndarray = np.lib.format.read_array(
            io.BytesIO(self.blob[start : start + n]), allow_pickle=False
        )
        return arr


def _decode_array(node: dict[str, Any], r: _Reader) -> np.ndarray:
    if node["t"] == "nd":
        return r.array(node["p"])
    strings, kinds = r.array(node["strings"]), r.array(node["kinds"])
    out = np.empty(kinds.size, dtype=object)
    if kinds.size:
        out[:] = strings.tolist()
        out[kinds == 1] = None
        out[kinds == 2] = float("nan")
    return out.reshape(node["shape"])


def _decode_index(node: dict[str, Any], r: _Reader) -> Any:
    import pandas as pd

    name = _unscalar(node["name"])
    if node["t"] == "range":
        return pd.RangeIndex(node["start"], node["stop"], node["step"], name=name)
    values = _decode_array(node["values"], r)
    return pd.Index(values, dtype=values.dtype, name=name)


def _decode_column(node: dict[str, Any], r: _Reader) -> Any:
    import pandas as pd

    if node["t"] == "cat":
        cats = _decode_index(node["categories"], r)
        return pd.Categorical.from_codes(
            r.array(node["codes"]), dtype=pd.CategoricalDtype(cats, ordered=node["ordered"])
        )
    return _decode_array(node, r)


def _decode(node: dict[str, Any], r: _Reader) -> Any:
    t = node["t"]
    if t in ("none", "bool", "int", "float", "str"):
        return _unscalar(node)
    if t in ("nd", "ndobj"):
        return _decode_array(node, r)
    if t == "npscalar":
        return r.array(node["p"])[()]
    if t == "dict":
        return {k: _decode(v, r) for k, v in node["items"]}
    if t in ("list", "tuple"):
        items = [_decode(v, r) for v in node["items"]]
        return items if t == "list" else tuple(items)
    if t == "sparse":
        from scipy import sparse

        cls = sparse.csr_array if node["array"] else sparse.csr_matrix
        csr = cls(
            (_decode_array(node["data"], r), r.array(node["indices"]), r.array(node["indptr"])),
            shape=tuple(node["shape"]),
        )
        return csr.asformat(node["format"])
    import pandas as pd

    if t == "df":
        index = _decode_index(node["index"], r)
        cols = [_decode_column(c, r) for c in node["cols"]]
        frame = pd.DataFrame(dict(enumerate(cols)), index=index)
        labels = [_unscalar(c) for c in node["columns"]]
        frame.columns = pd.Index(labels, dtype=node["columns_dtype"])
        return frame
    if t == "series":
        return pd.Series(
            _decode_column(node["values"], r),
            index=_decode_index(node["index"], r),
            name=_unscalar(node["name"]),
        )
    raise ValueError(f"unknown node type {t!r} in a cache blob")


def decode(blob: bytes | memoryview) -> Any:
    """Decode a blob written by :func:`encode`.

    Raises:
        ValueError: The blob is not a cache blob or is malformed (truncated, edited).
    """
    view = memoryview(blob)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise ValueError("not a Mileage cache blob (bad magic bytes)")
    (n,) = _LEN.unpack(view[len(MAGIC) : len(MAGIC) + _LEN.size])
    start = len(MAGIC) + _LEN.size
    header = json.loads(bytes(view[start : start + n]))
    base = start + n
    parts = header["parts"]
    if parts and base + parts[-1][0] + parts[-1][1] != len(view):
        raise ValueError("cache blob has the wrong length (truncated or extended)")
    return _decode(header["tree"], _Reader(view, base, parts))


def estimate_nbytes(value: Any) -> int | None:
    """Approximate encoded size without encoding (None when the type cannot be stored)."""
    if value is None or isinstance(value, bool | int | float):
        return 16
    if isinstance(value, str):
        return 16 + len(value)
    if isinstance(value, np.ndarray):
        return 128 + (value.size * 8 if value.dtype.hasobject else int(value.nbytes))
    if isinstance(value, np.generic):
        return 128
    if isinstance(value, dict):
        parts = [estimate_nbytes(v) for v in value.values()]
        return None if any(p is None for p in parts) else 64 + sum(p or 0 for p in parts)
    if isinstance(value, list | tuple):
        parts = [estimate_nbytes(v) for v in value]
        return None if any(p is None for p in parts) else 64 + sum(p or 0 for p in parts)
    module = type(value).__module__
    if module.startswith("scipy.sparse"):
        csr = value.tocsr()
        return 384 + int(csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes)
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame | pd.Series):
            usage = value.memory_usage(index=True, deep=False)
            return 256 + int(np.sum(usage))
    return None


__all__ = ["MAGIC", "decode", "encode", "estimate_nbytes"]
