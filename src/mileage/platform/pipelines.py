"""Pipelines as ordered operators with fingerprints, and how they are stored.

A collected run's pipeline comes from one of three places, most explicit first: a
``mileage.pipeline`` tag (JSON written by Mileage's executor or plugin), scikit-learn style
parameter names (``scaler__with_mean`` belongs to operator ``scaler``), or an OpenML flow's
components. Each operator's fingerprint covers its name, kind, parameters and inputs, so two
runs share an operator exactly when nothing about it changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from mileage.platform.fingerprint import fingerprint
from mileage.platform.store import schema as t
from mileage.platform.store._upsert import upsert

PIPELINE_TAG = "mileage.pipeline"
_STEP_NAMES = re.compile(r"\(\s*'([^']+)'\s*,")


@dataclass(frozen=True)
class OperatorSpec:
    """One operator of a pipeline."""

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """Changes exactly when the name, kind, parameters or inputs change."""
        return fingerprint(
            {
                "name": self.name,
                "kind": self.kind,
                "params": dict(self.params),
                "inputs": list(self.inputs),
            }
        )


def pipeline_fingerprint(operators: Iterable[OperatorSpec]) -> str:
    """Fingerprint of an ordered list of operators."""
    return fingerprint([op.fingerprint for op in operators])


def operators_from_run(
    params: Mapping[str, str], tags: Mapping[str, str]
) -> list[OperatorSpec] | None:
    """The operators of a collected run, or None when the run does not describe any.

    Raises:
        ValueError: The ``mileage.pipeline`` tag is not a JSON list of operators.
    """
    spec = tags.get(PIPELINE_TAG)
    if spec:
        items = json.loads(spec)
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and "name" in i for i in items
        ):
            raise ValueError(f"tag {PIPELINE_TAG!r} must be a JSON list of objects with a 'name'")
        return [
            OperatorSpec(
                name=str(i["name"]),
                kind=str(i.get("kind", i["name"])),
                params=dict(i.get("params", {})),
                inputs=tuple(i.get("inputs", ())),
            )
            for i in items
        ]
    grouped: dict[str, dict[str, str]] = {}
    for key, value in params.items():
        if "__" in key:
            step, _, param = key.partition("__")
            grouped.setdefault(step, {})[param] = value
    if not grouped:
        return None
    order = _STEP_NAMES.findall(params.get("steps", "")) or sorted(grouped)
    order += [name for name in sorted(grouped) if name not in order]
    return [
        OperatorSpec(name=name, kind=params.get(name, name), params=grouped.get(name, {}))
        for name in order
        if name in grouped or name in params
    ]


def store_pipeline(conn: Connection, name: str, operators: list[OperatorSpec]) -> int:
    """Insert the pipeline (idempotently, by fingerprint) and return its id."""
    fp = pipeline_fingerprint(operators)
    upsert(
        conn,
        t.pipelines,
        [{"fingerprint": fp, "name": name[:1024], "n_operators": len(operators)}],
        keys=("fingerprint",),
        update=(),
    )
    pipeline_id = int(
        conn.execute(select(t.pipelines.c.id).where(t.pipelines.c.fingerprint == fp)).scalar_one()
    )
    upsert(
        conn,
        t.pipeline_operators,
        [
            {
                "pipeline_id": pipeline_id,
                "position": pos,
                "name": op.name[:512],
                "kind": op.kind[:1024],
                "fingerprint": op.fingerprint,
                "params": dict(op.params),
                "inputs": list(op.inputs),
            }
            for pos, op in enumerate(operators)
        ],
        keys=("pipeline_id", "position"),
        update=(),
    )
    return pipeline_id
