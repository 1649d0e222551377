"""Dump a trace store by natural keys, to compare two stores row for row."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from mileage.platform.store import TraceStore, unpack_history
from mileage.platform.store import schema as t


def _one(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):  # JSONB reorders keys: compare canonical JSON
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


def _key(values: Any) -> tuple[str, ...]:
    return tuple(_one(v) for v in values)


def dump_store(store: TraceStore, *, signatures: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every collected row, with database ids replaced by natural keys, sorted.

    Args:
        store: The store to dump.
        signatures: Include the reader-specific run signature (False to compare readers).
    """
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.connect() as conn:
        exp = {
            r.id: r.external_id
            for r in conn.execute(select(t.experiments.c.id, t.experiments.c.external_id))
        }
        runs = {
            r.id: r.external_id for r in conn.execute(select(t.runs.c.id, t.runs.c.external_id))
        }
        pipes = {
            r.id: r.fingerprint
            for r in conn.execute(select(t.pipelines.c.id, t.pipelines.c.fingerprint))
        }
        datasets = {
            r.id: r.external_id
            for r in conn.execute(select(t.datasets.c.id, t.datasets.c.external_id))
        }
        tasks = {
            r.id: r.external_id for r in conn.execute(select(t.tasks.c.id, t.tasks.c.external_id))
        }
        configs = {
            r.id: r.fingerprint
            for r in conn.execute(select(t.configurations.c.id, t.configurations.c.fingerprint))
        }
        out["experiments"] = sorted(
            _key(
                (
                    r.external_id,
                    r.name,
                    r.artifact_location,
                    r.lifecycle_stage,
                    r.created_ms,
                    sorted(r.tags.items()),
                )
            )
            for r in conn.execute(select(t.experiments))
        )
        out["runs"] = sorted(
            _key(
                (
                    r.external_id,
                    exp.get(r.experiment_id),
                    r.name,
                    r.user,
                    r.status,
                    r.start_ms,
                    r.end_ms,
                    r.lifecycle_stage,
                    r.artifact_uri,
                    pipes.get(r.pipeline_id),
                    datasets.get(r.dataset_id),
                    tasks.get(r.task_id),
                    configs.get(r.configuration_id),
                    r.signature if signatures else None,
                )
            )
            for r in conn.execute(select(t.runs))
        )
        for table in (t.params, t.tags):
            out[table.name] = sorted(
                _key((runs[r.run_id], r.key, r.value)) for r in conn.execute(select(table))
            )
        out["metric_histories"] = sorted(
            _key(
                (
                    runs[r.run_id],
                    r.key,
                    r.n_points,
                    r.last_step,
                    r.last_ms,
                    r.last_value,
                    r.min_value,
                    r.max_value,
                    r.n_nonfinite,
                    *(
                        tuple(a.tolist())
                        for a in unpack_history(r.steps, r.timestamps, r.values).values()
                    ),
                )
            )
            for r in conn.execute(select(t.metric_histories))
        )
        out["datasets"] = sorted(
            _key((r.external_id, r.name, r.digest, r.source_uri, r.profile, r.meta_features))
            for r in conn.execute(select(t.datasets))
        )
        out["tasks"] = sorted(
            _key(
                (
                    r.external_id,
                    r.name,
                    datasets.get(r.dataset_id),
                    r.problem_type,
                    r.target,
                    r.metric,
                    r.metric_direction,
                    r.meta,
                )
            )
            for r in conn.execute(select(t.tasks))
        )
        out["configurations"] = sorted(
            _key((r.fingerprint, r.learner, r.params))
            for r in conn.execute(select(t.configurations))
        )
        out["source_configurations"] = sorted(
            _key((r.external_id, r.name, r.flow_external_id, configs[r.configuration_id]))
            for r in conn.execute(select(t.source_configurations))
        )
        out["flows"] = sorted(
            _key(
                (
                    r.external_id,
                    r.name,
                    r.version,
                    r.external_version,
                    r.uploader,
                    r.upload_ms,
                    r.description,
                    r.structure,
                )
            )
            for r in conn.execute(select(t.flows))
        )
        out["portfolio_members"] = sorted(
            _key((r.portfolio, r.position, configs[r.configuration_id], r.meta))
            for r in conn.execute(select(t.portfolio_members))
        )
        out["run_datasets"] = sorted(
            _key((runs[r.run_id], datasets[r.dataset_id], r.context))
            for r in conn.execute(select(t.run_datasets))
        )
        out["pipeline_operators"] = sorted(
            _key((pipes[r.pipeline_id], r.position, r.name, r.kind, r.fingerprint))
            for r in conn.execute(select(t.pipeline_operators))
        )
        out["iterations"] = sorted(
            _key(
                (
                    runs[r.run_id],
                    runs.get(r.previous_run_id),
                    r.position,
                    r.unit,
                    r.n_previous_units,
                    r.n_reused_units,
                    r.reuse_ratio,
                    r.changed_params,
                    r.changed_operators,
                )
            )
            for r in conn.execute(select(t.iterations))
        )
        out["model_versions"] = sorted(
            _key(
                (
                    r.model_name,
                    r.version,
                    r.run_external_id,
                    runs.get(r.run_id),
                    r.status,
                    r.stage,
                    r.source,
                )
            )
            for r in conn.execute(select(t.model_versions))
        )
        out["model_aliases"] = sorted(
            _key((r.model_name, r.alias, r.version)) for r in conn.execute(select(t.model_aliases))
        )
        out["registry_events"] = sorted(
            _key((r.model_name, r.kind, r.name, r.version, r.from_value, r.to_value))
            for r in conn.execute(select(t.registry_events))
        )
    return out
