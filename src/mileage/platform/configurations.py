"""Configurations (a learner and its hyperparameters) stored once, by fingerprint.

A configuration's fingerprint covers its learner name and its parameters as canonical JSON
(:func:`mileage.platform.fingerprint.stable_json`: sorted keys, ``1.0 == 1``), so the same
configuration arriving from two sources, or twice from one, is one row.

The learner name says whose defaults fill in the hyperparameters a configuration leaves
out: ``autogluon.lightgbm`` and ``flaml.lightgbm`` with the same explicit values are
different configurations, because AutoGluon and FLAML start LightGBM from different
defaults. OpenML configurations (setups) use the flow's full name, which pins the software
and its version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from mileage.platform.fingerprint import _canonical, fingerprint
from mileage.platform.store import schema as t
from mileage.platform.store._upsert import upsert

_CHUNK = 500


def canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as stored: string keys, numbers normalised as in the fingerprint."""
    out = _canonical(dict(params))
    assert isinstance(out, dict)
    return out


def configuration_fingerprint(learner: str, params: Mapping[str, Any]) -> str:
    """Stable identity of a configuration (64 hex characters)."""
    return fingerprint({"learner": learner, "params": canonical_params(params)})


def store_configurations(
    conn: Connection, items: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[int]:
    """Insert configurations idempotently and return their ids, in the order given.

    Args:
        conn: Connection inside a transaction.
        items: ``(learner, params)`` pairs; duplicates are fine.
    """
    if not items:
        return []
    rows: dict[str, dict[str, Any]] = {}
    order = []
    for learner, params in items:
        fp = configuration_fingerprint(learner, params)
        order.append(fp)
        rows.setdefault(
            fp,
            {"fingerprint": fp, "learner": learner[:256], "params": canonical_params(params)},
        )
    upsert(conn, t.configurations, list(rows.values()), keys=("fingerprint",), update=())
    ids: dict[str, int] = {}
    fps = list(rows)
    for i in range(0, len(fps), _CHUNK):
        chunk = fps[i : i + _CHUNK]
        for fp, cid in conn.execute(
            select(t.configurations.c.fingerprint, t.configurations.c.id).where(
                t.configurations.c.fingerprint.in_(chunk)
            )
        ):
            ids[fp] = int(cid)
    return [ids[fp] for fp in order]


__all__ = ["canonical_params", "configuration_fingerprint", "store_configurations"]
