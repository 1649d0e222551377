"""Recording executor runs in the trace store as runs of an ``executor`` source.

Each run becomes a ``runs`` row with its pipeline (operators, fingerprints), params
(``<operator>__<param>``), tags (the ``mileage.pipeline`` JSON), metrics, one
``operator_executions`` row per operator, and an ``iterations`` link to the user's previous
run of the same workflow. The link follows the collectors' rules (same chain key format,
changed operators by fingerprint, reuse share), so these chains are read exactly like
collected ones and become training data for the next-change model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select

from mileage.platform.fingerprint import fingerprint
from mileage.platform.pipelines import PIPELINE_TAG, OperatorSpec, store_pipeline
from mileage.platform.store import TraceStore, pack_history, upsert
from mileage.platform.store import schema as t

SOURCE_KIND = "executor"
SOURCE_URI = "mileage-executor"
#: MLflow's limit on a tag value; longer pipeline descriptions hash their parameters.
TAG_LIMIT = 8000


def chain_key(source_id: int, experiment_id: int, user: str | None) -> str:
    """The chain key, in the format collectors use (``source/experiment/user``)."""
    return f"{source_id}/{experiment_id}/{'' if user is None else user}"


def pipeline_tag(specs: Sequence[OperatorSpec]) -> str:
    """JSON for the ``mileage.pipeline`` tag, within MLflow's tag length limit.

    When the full description is too long, each operator's parameters are replaced by
    their fingerprint, which still changes exactly when a parameter does.
    """
    items = [
        {"name": s.name, "kind": s.kind, "params": dict(s.params), "inputs": list(s.inputs)}
        for s in specs
    ]
    text = json.dumps(items, separators=(",", ":"), default=str)
    if len(text) <= TAG_LIMIT:
        return text
    for item in items:
        item["params"] = {"fingerprint": fingerprint(item["params"])}
    return json.dumps(items, separators=(",", ":"), default=str)


def flat_params(specs: Sequence[OperatorSpec]) -> dict[str, str]:
    """``<operator>__<param>`` -> text, the way scikit-learn autologging names them."""
    out = {}
    for s in specs:
        for key, value in s.params.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[f"{s.name}__{key}"] = text[:6000]
    return out


@dataclass(frozen=True)
class PreviousRun:
    """The user's latest earlier run of the workflow, as the store knows it."""

    run_id: int
    position: int
    operators: dict[str, str]
    params: dict[str, str]


class TraceLog:
    """Writes executor runs to a trace store and reads back the chain they extend."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store
        self.source_id = store.ensure_source(SOURCE_KIND, SOURCE_URI, "Mileage executor")

    def experiment_id(self, conn: Connection, workflow: str) -> int:
        upsert(
            conn,
            t.experiments,
            [
                {
                    "source_id": self.source_id,
                    "external_id": workflow[:256],
                    "name": workflow[:1024],
                    "artifact_location": None,
                    "lifecycle_stage": "active",
                    "created_ms": int(time.time() * 1000),
                    "tags": {},
                }
            ],
            keys=("source_id", "external_id"),
            update=(),
        )
        return int(
            conn.execute(
                select(t.experiments.c.id).where(
                    t.experiments.c.source_id == self.source_id,
                    t.experiments.c.external_id == workflow[:256],
                )
            ).scalar_one()
        )

    def previous(self, workflow: str, user: str | None) -> tuple[str, PreviousRun | None]:
        """The chain key of (workflow, user) and its latest run, if any."""
        with self.store.begin() as conn:
            exp = self.experiment_id(conn, workflow)
            key = chain_key(self.source_id, exp, user)
            row = conn.execute(
                select(t.iterations.c.run_id, t.iterations.c.position, t.runs.c.pipeline_id)
                .join(t.runs, t.runs.c.id == t.iterations.c.run_id)
                .where(t.iterations.c.chain_key == key)
                .order_by(t.iterations.c.position.desc())
                .limit(1)
            ).first()
            if row is None:
                return key, None
            ops = dict(
                conn.execute(
                    select(t.pipeline_operators.c.name, t.pipeline_operators.c.fingerprint).where(
                        t.pipeline_operators.c.pipeline_id == row.pipeline_id
                    )
                ).all()
            )
            params = dict(
                conn.execute(
                    select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == row.run_id)
                ).all()
            )
        return key, PreviousRun(int(row.run_id), int(row.position), ops, params)

    def record(
        self,
        *,
        workflow: str,
        user: str | None,
        specs: Sequence[OperatorSpec],
        executions: Sequence[Mapping[str, Any]],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        start_ms: int,
        end_ms: int,
        run_uuid: str,
        previous: PreviousRun | None,
        key: str,
    ) -> int:
        """Write one run with its pipeline, params, tags, metrics, executions and link."""
        params = flat_params(specs)
        operators = {s.name: s.fingerprint for s in specs}
        with self.store.begin() as conn:
            exp = self.experiment_id(conn, workflow)
            pipeline_id = store_pipeline(conn, workflow, list(specs))
            run_id = int(
                conn.execute(
                    insert(t.runs)
                    .values(
                        source_id=self.source_id,
                        external_id=run_uuid,
                        experiment_id=exp,
                        name=f"{workflow}-{0 if previous is None else previous.position + 1}",
                        user=None if user is None else user[:256],
                        status="FINISHED",
                        start_ms=start_ms,
                        end_ms=end_ms,
                        lifecycle_stage="active",
                        artifact_uri=None,
                        pipeline_id=pipeline_id,
                        signature=fingerprint(operators)[:128],
                    )
                    .returning(t.runs.c.id)
                ).scalar_one()
            )
            if params:
                conn.execute(
                    insert(t.params),
                    [{"run_id": run_id, "key": k[:512], "value": v} for k, v in params.items()],
                )
            all_tags = {PIPELINE_TAG: pipeline_tag(specs), **tags}
            conn.execute(
                insert(t.tags),
                [{"run_id": run_id, "key": k[:512], "value": v} for k, v in all_tags.items()],
            )
            rows = []
            for name, value in metrics.items():
                if value is None or not np.isfinite(value):
                    continue
                rows.append(
                    {
                        "run_id": run_id,
                        "key": name[:512],
                        **pack_history(np.array([0]), np.array([end_ms]), np.array([float(value)])),
                    }
                )
            if rows:
                conn.execute(insert(t.metric_histories), rows)
            conn.execute(
                insert(t.operator_executions),
                [{"run_id": run_id, "position": i, **e} for i, e in enumerate(executions)],
            )
            conn.execute(
                insert(t.iterations), [self._link(run_id, key, previous, operators, params)]
            )
        return run_id

    @staticmethod
    def _link(
        run_id: int,
        key: str,
        previous: PreviousRun | None,
        operators: Mapping[str, str],
        params: Mapping[str, str],
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "run_id": run_id,
            "previous_run_id": None,
            "chain_key": key,
            "position": 0,
            "unit": "operators",
            "n_previous_units": 0,
            "n_reused_units": 0,
            "reuse_ratio": None,
            "changed_params": [],
            "changed_operators": [],
        }
        if previous is None:
            return row
        prev_ops = previous.operators
        changed = sorted(
            k for k in prev_ops.keys() | operators.keys() if prev_ops.get(k) != operators.get(k)
        )
        changed_params = sorted(
            k
            for k in previous.params.keys() | params.keys()
            if previous.params.get(k) != params.get(k)
        )
        reused = sum(1 for k, v in prev_ops.items() if operators.get(k) == v)
        row.update(
            previous_run_id=previous.run_id,
            position=previous.position + 1,
            n_previous_units=len(prev_ops),
            n_reused_units=reused,
            reuse_ratio=reused / len(prev_ops) if prev_ops else None,
            changed_params=changed_params,
            changed_operators=changed,
        )
        return row


__all__ = [
    "SOURCE_KIND",
    "SOURCE_URI",
    "PreviousRun",
    "TraceLog",
    "chain_key",
    "flat_params",
    "pipeline_tag",
]
