"""Writing OpenML objects into the trace store (idempotent upserts by natural key).

Objects that could not be read (a run's unknown flow, a task the server no longer has)
are written as placeholders that never overwrite a real row; real rows overwrite
placeholders. A dataset whose qualities could not be read keeps the meta-features stored
by an earlier pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, insert, select, update

from mileage.collectors import _iterations as iterations
from mileage.collectors._base import clean_text, ids_of
from mileage.collectors.openml._assemble import AssembledRun, split_full_name, upload_ms
from mileage.collectors.openml._records import DatasetRecord, FlowRecord, TaskRecord
from mileage.platform.configurations import store_configurations
from mileage.platform.pipelines import store_pipeline
from mileage.platform.store import pack_history, upsert
from mileage.platform.store import schema as t
from mileage.platform.vocabulary import (
    OPENML_CLASSIFICATION_TASK_TYPES,
    OPENML_REGRESSION_TASK_TYPES,
    direction,
    from_openml_measure,
    meta_features_from_openml,
    problem_type,
)

_CHUNK = 500


# -- flows -------------------------------------------------------------------------------


def write_flows(conn: Connection, source_id: int, flows: Sequence[FlowRecord]) -> int:
    """Upsert described flows and every subflow; returns the number of flow rows."""
    rows: dict[str, dict[str, Any]] = {}
    for flow in flows:
        for _, sub in flow.walk():
            rows[str(sub.flow_id)] = {
                "source_id": source_id,
                "external_id": str(sub.flow_id),
                "name": clean_text(sub.name, 1024),
                "version": clean_text(sub.version, 64),
                "external_version": clean_text(sub.external_version, 1024),
                "uploader": None if sub.uploader is None else str(sub.uploader),
                "upload_ms": upload_ms(sub.upload_date),
                "description": clean_text(sub.description),
                "structure": sub.structure(),
            }
    upsert(conn, t.flows, list(rows.values()), keys=("source_id", "external_id"))
    return len(rows)


def write_flow_placeholders(
    conn: Connection, source_id: int, flows: dict[int, tuple[str | None, dict[str, Any]]]
) -> None:
    """Rows for flows known only by name (flow lists, run rows); never overwrite a real row."""
    rows = []
    for fid, (full_name, extra) in sorted(flows.items()):
        name, version = split_full_name(full_name) if full_name else (f"openml flow {fid}", None)
        rows.append(
            {
                "source_id": source_id,
                "external_id": str(fid),
                "name": clean_text(name, 1024),
                "version": clean_text(extra.get("version") or version, 64),
                "external_version": clean_text(extra.get("external_version"), 1024),
                "uploader": None if extra.get("uploader") is None else str(extra["uploader"]),
                "upload_ms": None,
                "description": None,
                "structure": {},
            }
        )
    upsert(conn, t.flows, rows, keys=("source_id", "external_id"), update=())


# -- datasets and tasks ------------------------------------------------------------------


def dataset_row(
    source_id: int,
    dataset_id: int,
    record: DatasetRecord | None,
    qualities: dict[str, float | None] | None,
    fallback_name: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """The ``datasets`` row of an OpenML dataset and the quality problems found."""
    features: dict[str, float] = {}
    problems: list[str] = []
    if qualities:
        features, problems = meta_features_from_openml(qualities)
    profile: dict[str, Any] = {
        "openml_dataset_id": dataset_id,
        "description": "ok" if record else "missing",
        "qualities_status": "ok" if qualities else "missing",
        "qualities": qualities or {},
    }
    if record is not None:
        profile.update(
            version=record.version,
            upload_date=record.upload_date,
            format=record.format,
            default_target=record.default_target,
            status=record.status,
            licence=record.licence,
            tags=record.tags,
        )
    name = (record and record.name) or fallback_name or f"dataset {dataset_id}"
    row = {
        "source_id": source_id,
        "external_id": str(dataset_id),
        "name": clean_text(name, 1024),
        "digest": clean_text(record and record.md5, 128),
        "source_uri": clean_text(record and record.url),
        "schema": None,
        "profile": profile,
        "meta_features": features,
    }
    return row, problems


def write_datasets(
    conn: Connection, source_id: int, rows: Sequence[dict[str, Any]]
) -> dict[int, int]:
    """Upsert dataset rows (see the module docstring for what is never overwritten)."""
    full = [r for r in rows if r["profile"]["qualities_status"] == "ok"]
    described = [r for r in rows if r not in full and r["profile"]["description"] == "ok"]
    bare = [r for r in rows if r not in full and r not in described]
    upsert(conn, t.datasets, full, keys=("source_id", "external_id"))
    upsert(
        conn,
        t.datasets,
        described,
        keys=("source_id", "external_id"),
        update=("name", "digest", "source_uri"),
    )
    upsert(conn, t.datasets, bare, keys=("source_id", "external_id"), update=())
    named = {
        r["external_id"]: r["name"] for r in bare if r["name"] != f"dataset {r['external_id']}"
    }
    if named:  # a name learnt from a run or list row improves a placeholder, never a description
        for ext, name, profile in conn.execute(
            select(t.datasets.c.external_id, t.datasets.c.name, t.datasets.c.profile).where(
                t.datasets.c.source_id == source_id, t.datasets.c.external_id.in_(list(named))
            )
        ):
            if (profile or {}).get("description") != "ok" and name != named[ext]:
                conn.execute(
                    update(t.datasets)
                    .where(t.datasets.c.source_id == source_id, t.datasets.c.external_id == ext)
                    .values(name=named[ext])
                )
    found = ids_of(conn, t.datasets, source_id, (r["external_id"] for r in rows))
    return {int(k): v for k, v in found.items()}


def task_row(
    source_id: int,
    task_id: int,
    record: TaskRecord | None,
    dataset_db_id: int | None,
    dataset_name: str | None,
    dataset_row_: dict[str, Any] | None,
    task_type: str | None = None,
) -> dict[str, Any]:
    """The ``tasks`` row of an OpenML task (a placeholder when ``record`` is None)."""
    features = (dataset_row_ or {}).get("meta_features") or {}
    default_target = ((dataset_row_ or {}).get("profile") or {}).get("default_target")
    type_id = record.task_type_id if record else None
    type_name = (record and record.task_type) or task_type or ""
    if type_id in OPENML_REGRESSION_TASK_TYPES or "regression" in type_name.lower():
        kind: str | None = "regression"
    elif type_id in OPENML_CLASSIFICATION_TASK_TYPES or "classification" in type_name.lower():
        kind = "classification"
    else:
        kind = None
    n_classes = features.get("n_classes")
    if record and record.target and default_target and record.target != default_target:
        n_classes = None  # the qualities describe another target
    problem = problem_type(kind, n_classes)
    metric = None
    if record and record.measures:
        metric = from_openml_measure(record.measures[0], 0.0)[0]
    meta: dict[str, Any] = {"openml_task_id": task_id, "status": "ok" if record else "missing"}
    if record is not None:
        meta.update(
            task_type_id=record.task_type_id,
            task_type=record.task_type,
            openml_dataset_id=record.dataset_id,
            estimation=record.estimation,
            measures=record.measures,
            tags=record.tags,
        )
    elif task_type:
        meta["task_type"] = task_type
    name = f"{type_name or 'task'} on {dataset_name}" if dataset_name else None
    return {
        "source_id": source_id,
        "external_id": str(task_id),
        "name": clean_text(name, 1024),
        "dataset_id": dataset_db_id,
        "problem_type": problem,
        "target": clean_text(record and record.target, 256),
        "metric": metric,
        "metric_direction": direction(metric) if metric else None,
        "meta": meta,
    }


def write_tasks(conn: Connection, source_id: int, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Upsert task rows; placeholders never overwrite a described task."""
    real = [r for r in rows if r["meta"]["status"] == "ok"]
    placeholders = [r for r in rows if r["meta"]["status"] != "ok"]
    upsert(conn, t.tasks, real, keys=("source_id", "external_id"))
    upsert(conn, t.tasks, placeholders, keys=("source_id", "external_id"), update=())
    found = ids_of(conn, t.tasks, source_id, (r["external_id"] for r in rows))
    return {int(k): v for k, v in found.items()}


# -- setups and runs ---------------------------------------------------------------------


def write_setups(
    conn: Connection,
    source_id: int,
    setups: Sequence[tuple[int, int | None, str, dict[str, str]]],
) -> dict[int, int]:
    """Store setups as configurations; ``(setup id, flow id, learner, params)`` each."""
    if not setups:
        return {}
    config_ids = store_configurations(conn, [(learner, params) for _, _, learner, params in setups])
    rows = {
        str(sid): {
            "source_id": source_id,
            "external_id": str(sid),
            "name": clean_text(learner, 512),
            "flow_external_id": None if fid is None else str(fid),
            "configuration_id": cid,
        }
        for (sid, fid, learner, _), cid in zip(setups, config_ids)
    }
    upsert(conn, t.source_configurations, list(rows.values()), keys=("source_id", "external_id"))
    return {sid: cid for (sid, _, _, _), cid in zip(setups, config_ids)}


def write_runs(
    conn: Connection,
    source_id: int,
    runs: Sequence[AssembledRun],
    task_ids: dict[int, int],
    dataset_ids: dict[int, int],
    known_params: set[int],
) -> None:
    """Upsert runs with their configuration, pipeline, params, tags and metric histories.

    Args:
        conn: Connection inside the batch's transaction.
        source_id: The OpenML source.
        runs: Assembled runs.
        task_ids: OpenML task id -> ``tasks.id``.
        dataset_ids: OpenML dataset id -> ``datasets.id``.
        known_params: Run ids whose parameter values are known (from the run or its setup);
            only those get a configuration and map their setup to it.
    """
    if not runs:
        return
    with_params = [r for r in runs if r.run_id in known_params]
    config_ids: dict[int, int] = {}
    setup_configs = write_setups(
        conn,
        source_id,
        [
            (r.setup_id, r.flow_id, r.learner, r.params)
            for r in with_params
            if r.setup_id is not None
        ],
    )
    loose = [r for r in with_params if r.setup_id is None]
    for r, cid in zip(loose, store_configurations(conn, [(r.learner, r.params) for r in loose])):
        config_ids[r.run_id] = cid
    for r in with_params:
        if r.setup_id is not None:
            config_ids[r.run_id] = setup_configs[r.setup_id]
    rows = []
    for r in runs:
        pipeline_id = store_pipeline(conn, r.pipeline_name, r.operators) if r.operators else None
        rows.append(
            {
                "source_id": source_id,
                "external_id": str(r.run_id),
                "experiment_id": None,
                "name": f"run {r.run_id}",
                "user": r.user,
                "status": r.status,
                "start_ms": r.upload_ms,
                "end_ms": None,
                "lifecycle_stage": "active",
                "artifact_uri": None,
                "task_id": task_ids.get(r.task_id) if r.task_id is not None else None,
                "dataset_id": dataset_ids.get(r.dataset_id) if r.dataset_id is not None else None,
                "pipeline_id": pipeline_id,
                "configuration_id": config_ids.get(r.run_id),
                "signature": r.signature,
            }
        )
    upsert(conn, t.runs, rows, keys=("source_id", "external_id"))
    db_ids = ids_of(conn, t.runs, source_id, (str(r.run_id) for r in runs))
    run_ids = [db_ids[str(r.run_id)] for r in runs]
    for table in (t.params, t.tags, t.metric_histories, t.run_datasets):
        for i in range(0, len(run_ids), _CHUNK):
            conn.execute(delete(table).where(table.c.run_id.in_(run_ids[i : i + _CHUNK])))
    iterations.invalidate(conn, run_ids)
    params, tags, metrics, links = [], [], [], []
    for r in runs:
        rid = db_ids[str(r.run_id)]
        params += [
            {"run_id": rid, "key": clean_text(k, 512), "value": clean_text(v) or ""}
            for k, v in r.params.items()
        ]
        tags += [
            {"run_id": rid, "key": clean_text(k, 512), "value": clean_text(v) or ""}
            for k, v in r.tags.items()
        ]
        stamp = r.upload_ms or 0
        for key, (steps, values) in sorted(r.histories.items()):
            if steps:
                metrics.append(
                    {
                        "run_id": rid,
                        "key": clean_text(key, 512),
                        **pack_history(
                            np.asarray(steps, dtype=np.int64),
                            np.full(len(steps), stamp, dtype=np.int64),
                            np.asarray(values, dtype=np.float64),
                        ),
                    }
                )
        if r.dataset_id is not None and r.dataset_id in dataset_ids:
            links.append(
                {"run_id": rid, "dataset_id": dataset_ids[r.dataset_id], "context": "training"}
            )
    for table, table_rows in (
        (t.params, params),
        (t.tags, tags),
        (t.metric_histories, metrics),
        (t.run_datasets, links),
    ):
        if table_rows:
            conn.execute(insert(table), table_rows)


__all__ = [
    "dataset_row",
    "task_row",
    "write_datasets",
    "write_flow_placeholders",
    "write_flows",
    "write_runs",
    "write_setups",
    "write_tasks",
]
