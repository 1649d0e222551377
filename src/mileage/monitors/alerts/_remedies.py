"""Performing an accepted remedy: what ``mileage suggestions accept`` changes.

* ``rollback``: moves the MLflow registry alias to the fallback version (a no-op when it
  already points there) and tags both versions with the move;
* ``retrain``: writes the retrain request (window, exclusions, warm starts) as YAML under
  ``<home>/monitors/<name>/retrain/`` for the training job; Mileage does not train models;
* ``refresh_reference``: builds a reference from the recent validated batches (joined with
  their labels), stores it under ``<home>/monitors/<name>/references/``, points the monitor at
  it with a re-inferred suite version and a recomputed baseline (old versions are kept);
* ``add_slice``: writes validation set ``v<n+1>`` under ``<home>/monitors/<name>/validation/``:
  the previous version plus the slice's labelled rows of the affected batches, and declares
  the slice on the monitor if it was not;
* ``fix_upstream``: records the decision; the fix happens where the data is produced.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mileage.monitors._registry import MonitorRecord, get_monitor, update_monitor
from mileage.monitors.checks._models import ModelError, _quiet
from mileage.monitors.checks._sources import BatchSource, read_file
from mileage.platform.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from mileage.monitors.alerts._records import Suggestion
    from mileage.platform.store import TraceStore


def perform(store: TraceStore, suggestion: Suggestion, *, home: Path, actor: str) -> dict[str, Any]:
    """Carry out an accepted suggestion; returns what changed (``changed`` False: nothing to do).

    Raises:
        ModelError: The registry cannot be reached or has no such version (rollback).
        DataError: Batches or labels cannot be read (new reference, validation set).
        ConfigError: The suggestion's action is malformed.
    """
    action = dict(suggestion.action or {})
    record = get_monitor(store, suggestion.pipeline)
    kind = action.get("type")
    if kind == "rollback":
        return _rollback(record, action, suggestion, actor)
    if kind == "retrain":
        return _retrain(record, action, suggestion, home)
    if kind == "refresh_reference":
        return _refresh_reference(store, record, action, suggestion)
    if kind == "add_slice":
        return _add_slice(store, record, action, suggestion, home)
    if kind == "fix_upstream":
        batch = (action.get("batches") or [None])[-1]
        again = f"mileage monitor run {shlex.quote(record.config.name)}" + (
            f" --batch {shlex.quote(str(batch))}" if batch else ""
        )
        return {
            "changed": False,
            "note": f"recorded: fix the source upstream, then check again with: {again}",
        }
    raise ConfigError(
        f"suggestion {suggestion.id}: action type {kind!r} is not one of rollback, retrain, "
        "refresh_reference, add_slice, fix_upstream; it cannot be performed."
    )


def _client(tracking_uri: str | None) -> Any:
    _quiet()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _rollback(
    record: MonitorRecord, action: dict[str, Any], suggestion: Suggestion, actor: str
) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    config = record.config
    name, alias, target = action["model"], action["alias"], str(action["to"])
    where = config.tracking_uri or "MLFLOW_TRACKING_URI"
    try:
        client = _client(config.tracking_uri)
        current = str(client.get_model_version_by_alias(name, alias).version)
        if current == target:
            return {
                "changed": False,
                "alias": alias,
                "version": target,
                "note": f"{name}@{alias} already serves version {target}",
            }
        client.get_model_version(name, target)  # fails clearly when the fallback is gone
        client.set_registered_model_alias(name, alias, target)
        client.set_model_version_tag(name, target, "mileage.rollback.from", current)
        client.set_model_version_tag(name, target, "mileage.rollback.by", actor)
        client.set_model_version_tag(
            name, target, "mileage.rollback.suggestion", str(suggestion.id)
        )
        client.set_model_version_tag(name, current, "mileage.rollback.to", target)
    except MlflowException as exc:
        raise ModelError(
            f"rollback of models:/{name}@{alias} to version {target} failed at {where}: "
            f"{str(exc).splitlines()[0][:300]}; check the registry and the fallback version "
            f"('mileage monitor edit {config.name} --fallback-version N')."
        ) from None
    return {"changed": True, "alias": alias, "from": current, "to": target}


def _retrain(
    record: MonitorRecord, action: dict[str, Any], suggestion: Suggestion, home: Path
) -> dict[str, Any]:
    folder = home / "monitors" / record.config.name / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"suggestion-{suggestion.id}.yaml"
    if path.exists():
        return {"changed": False, "request": str(path)}
    path.write_text(yaml.safe_dump(action["request"], sort_keys=False))
    return {"changed": True, "request": str(path)}


def _with_labels(frame: pd.DataFrame, record: MonitorRecord) -> pd.DataFrame:
    config = record.config
    if not config.labels_uri or not config.id_column or config.label_column in frame.columns:
        return frame
    from mileage.monitors._runner import read_labels

    labels = read_labels(config.labels_uri)
    if config.id_column not in labels.columns or config.label_column not in labels.columns:
        return frame
    labels = labels[[config.id_column, config.label_column]].drop_duplicates(
        config.id_column, keep="last"
    )
    return frame.merge(labels, on=config.id_column, how="left")


def _refresh_reference(
    store: TraceStore, record: MonitorRecord, action: dict[str, Any], suggestion: Suggestion
) -> dict[str, Any]:
    import pandas as pd

    from mileage.monitors._runner import refresh_baseline
    from mileage.monitors.checks._suite import infer_suite

    config = record.config
    path = Path(action["path"])
    if config.reference_uri == str(path):
        return {"changed": False, "reference": str(path)}
    if not config.batches_uri:
        raise ConfigError(f"monitor {config.name!r} has no batch source to build a reference from.")
    source = BatchSource(config.batches_uri, config.batch_column)
    frames = [source.read(b) for b in action.get("batches") or []]
    if not frames:
        raise DataError(
            f"suggestion {suggestion.id}: no validated batch to build a reference from; "
            "wait for clean batches or set one with 'mileage monitor edit "
            f"{config.name} --reference FILE'."
        )
    frame = _with_labels(pd.concat(frames, ignore_index=True), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    new = dataclasses.replace(config, reference_uri=str(path))
    suite = infer_suite(frame, id_column=new.id_column, exclude=new.excluded)
    new = refresh_baseline(new, suite)
    updated = update_monitor(
        store,
        config.name,
        new,
        suite=suite,
        origin="inferred",
        note=f"reference refreshed from {len(frames)} batches (suggestion {suggestion.id})",
    )
    return {
        "changed": True,
        "reference": str(path),
        "previous_reference": config.reference_uri,
        "rows": len(frame),
        "suite_version": updated.suite_version,
    }


def _slice_named(record: MonitorRecord, name: str) -> Any:
    from mileage.monitors.checks._slices import Slice, column_slices
    from mileage.monitors.checks._sources import read_frame

    config = record.config
    for text in config.slices:
        parsed = Slice.parse(text)
        if parsed.name == name:
            return parsed
    if config.slice_columns:
        reference = read_frame(config.reference_uri, what="reference")
        for column in config.slice_columns:
            for parsed in column_slices(reference, column):
                if parsed.name == name:
                    return parsed
    return None


def _add_slice(
    store: TraceStore,
    record: MonitorRecord,
    action: dict[str, Any],
    suggestion: Suggestion,
    home: Path,
) -> dict[str, Any]:
    import pandas as pd

    from mileage.monitors._runner import _safe

    config = record.config
    name = action["slice"]
    folder = home / "monitors" / config.name / "validation"
    target = folder / f"v{int(action['version'])}.parquet"
    if target.exists():
        return {"changed": False, "validation_set": str(target)}
    chosen = _slice_named(record, name)
    if chosen is None:
        raise ConfigError(
            f"slice {name!r} is not declared on monitor {config.name!r} (slices: "
            f"{', '.join(config.slices) or 'none'}); declare it with 'mileage monitor edit "
            f'{config.name} --slice "{name}: COLUMN OP VALUE"\'.'
        )
    predictions = home / "monitors" / config.name / "predictions"
    parts = []
    for batch in action.get("batches") or []:
        path = predictions / f"{_safe(batch)}.parquet"
        if path.exists():
            frame = read_file(path, what=f"predictions of batch {batch!r}")
            parts.append(frame.assign(batch_id=batch))
    if not parts:
        raise DataError(
            f"suggestion {suggestion.id}: no stored predictions for batches "
            f"{action.get('batches')}; run 'mileage monitor run {config.name}' first."
        )
    rows = _with_labels(pd.concat(parts, ignore_index=True), record)
    rows = rows[chosen.mask(rows).to_numpy()]
    if config.label_column in rows.columns:
        rows = rows[rows[config.label_column].notna()]
    previous = sorted(folder.glob("v*.parquet")) if folder.is_dir() else []
    frames = [read_file(previous[-1], what="validation set")] if previous else []
    combined = pd.concat([*frames, rows], ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    combined.to_parquet(target)
    return {
        "changed": True,
        "validation_set": str(target),
        "rows_added": len(rows),
        "rows": len(combined),
        "previous": str(previous[-1]) if previous else None,
    }


__all__ = ["ModelError", "perform"]
