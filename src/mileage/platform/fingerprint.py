"""Stable content fingerprints (SHA-256 of canonical JSON)."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def stable_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, and numbers normalised (``1.0`` == ``1``)."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(value: Any) -> str:
    """Hex SHA-256 of :func:`stable_json` of ``value`` (64 characters)."""
    return hashlib.sha256(stable_json(value).encode("utf-8")).hexdigest()
