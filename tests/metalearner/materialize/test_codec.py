"""Blobs round-trip exactly, refuse what needs pickle, and never unpickle."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import sparse

from mileage.metalearner import NotCacheableError
from mileage.metalearner.materialize import decode, encode, estimate_nbytes
from mileage.metalearner.materialize._codec import MAGIC


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame | pd.Series):
        return type(a) is type(b) and a.equals(b) and a.index.equals(b.index)
    if isinstance(a, np.ndarray) and a.dtype.hasobject:
        return (
            isinstance(b, np.ndarray)
            and b.dtype == a.dtype
            and a.shape == b.shape
            and all(_same(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        )
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if sparse.issparse(a):
        return b.format == a.format and (a != b).nnz == 0 and b.dtype == a.dtype
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return type(a) is type(b) and a == b


def test_frames_series_sparse_and_scalars_round_trip() -> None:
    frame = pd.DataFrame(
        {
            "f": [1.5, np.nan, -np.inf],
            "s": ["a", None, np.nan],
            "c": pd.Categorical(["u", "v", "u"], categories=["v", "u"], ordered=True),
            "i": np.array([1, 2, 3], dtype=np.int32),
            "t": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
            7: [True, False, True],
        },
        index=pd.Index([10, 20, 30], name="row"),
    )
    value = {
        "frame": frame,
        "series": frame["f"].rename("renamed"),
        "csr": sparse.random(6, 5, density=0.3, format="csr", random_state=0),
        "csc": sparse.random(6, 5, density=0.3, format="csc", random_state=1),
        "objects": np.array([["x", None], [np.nan, "y"]], dtype=object),
        "strings": np.array(["ab", "c"]),
        "nan": float("nan"),
        "big": 10**30,
        "np": np.float32(2.5),
        "nested": {"list": [1, "x", None], "tuple": (1.0, 2.0)},
    }
    out = decode(encode(value))
    for key in value:
        assert _same(value[key], out[key]), key
    assert out["nested"]["tuple"] == (1.0, 2.0) and out["nested"]["list"] == [1, "x", None]
    assert out["frame"].columns.tolist() == ["f", "s", "c", "i", "t", 7]


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from(
            [np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128]
        ),
        shape=hnp.array_shapes(max_dims=3, max_side=6),
    )
)
def test_numeric_arrays_round_trip(arr: np.ndarray) -> None:
    assert _same(arr, decode(encode(arr)))


@pytest.mark.parametrize(
    "value",
    [
        object(),
        np.array([1, "a"], dtype=object),
        {1: np.zeros(2)},
        pd.DataFrame({"x": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({("a", "b"): [1]}),
    ],
)
def test_values_needing_pickle_are_refused(value: object) -> None:
    with pytest.raises(NotCacheableError):
        encode(value)


def test_decode_never_unpickles() -> None:
    # A blob whose part is an object-dtype .npy (which would need pickle) must not load.
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    part = buf.getvalue()
    header = json.dumps({"tree": {"t": "nd", "p": 0}, "parts": [[0, len(part)]]}).encode()
    blob = MAGIC + len(header).to_bytes(8, "little") + header + part
    with pytest.raises(ValueError, match="allow_pickle"):
        decode(blob)


def test_damaged_blobs_are_detected() -> None:
    blob = encode({"x": np.arange(100.0)})
    with pytest.raises(ValueError, match="wrong length"):
        decode(blob[:-3])
    with pytest.raises(ValueError, match="magic"):
        decode(b"PICKLE" + blob[6:])


def test_size_estimate_is_close_to_the_blob() -> None:
    value = {"X_train": np.zeros((1000, 20)), "y": pd.Series(np.arange(1000))}
    estimate = estimate_nbytes(value)
    assert estimate is not None
    assert 0.9 < estimate / len(encode(value)) < 1.1
    assert estimate_nbytes(object()) is None
