"""The ``mileage`` model evaluator (entry point ``mlflow.model_evaluator``).

Inside ``mlflow.models.evaluate(..., evaluators=["mileage"])`` it checks the evaluation data
against the training reference with the monitors' validation (Great Expectations) and drift
(Evidently) checks, and the model's predictions for drift too. It logs the counts as metrics,
the findings as JSON and a per-column HTML report as artefacts, and raises only when asked to.

The reference defaults to the training data of the run (the evaluated run, or the run that
logged the model): the data the plugin saw that run train on in this process, or else the run's
training dataset input, when its source can be loaded (a file or URL). The checks need the
``monitors`` extra (``pip install 'mileage[monitors]'``); importing the evaluator does not.

The HTML artefact holds the counts, one row per column with its worst finding, every finding,
and Evidently's data-drift report (``DataDriftPreset``) of the evaluation data against the
reference, embedded as a frame (``evidently_report: False`` leaves it out).

Example:
    >>> mlflow.models.evaluate(  # doctest: +SKIP
    ...     model_uri, eval_frame, targets="label", model_type="classifier",
    ...     evaluators=["default", "mileage"],
    ...     evaluator_config={"mileage": {"block_on": "blocking"}},
    ... )
"""

from __future__ import annotations

import html
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.models.evaluation import EvaluationResult, ModelEvaluator

from mileage.platform.errors import ConfigError
from mileage.platform.extras import require
from mileage.plugin._errors import EvaluationBlockedError

__all__ = ["EvaluationBlockedError", "MileageEvaluator"]

PREDICTION = "prediction"


class MileageEvaluator(ModelEvaluator):
    """Validation and drift checks of evaluation data against the training reference.

    ``evaluator_config`` keys:
        reference: The training data (a pandas DataFrame or a file the monitors can read);
            default: the run's training data (see the module's description).
        block_on: ``"blocking"`` or ``"warning"`` to raise when a finding is that severe;
            default never raises.
        exclude: Columns to leave out of the checks (ids, timestamps).
        evidently_report: Embed Evidently's data-drift report in the HTML artefact (default
            True; a few seconds on wide or large data).
    """

    @classmethod
    def can_evaluate(cls, *, model_type: Any, evaluator_config: Any, **kwargs: Any) -> bool:
        return True

    def evaluate(
        self,
        *,
        model_type: Any,
        dataset: Any,
        run_id: str,
        evaluator_config: dict[str, Any],
        model: Any = None,
        extra_metrics: Any = None,
        custom_artifacts: Any = None,
        predictions: Any = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        import pandas as pd

        from mileage.monitors import DriftOptions, MonitorConfig, Severity, check_batch, infer_suite

        for module in ("great_expectations", "evidently"):
            require(module, "the 'mileage' evaluator")
        config = dict(evaluator_config or {})
        reference = _reference(config.get("reference"), run_id, model)
        block_on = config.get("block_on")
        if block_on not in (None, "blocking", "warning"):
            raise ConfigError(
                f"evaluator 'mileage': block_on must be 'blocking', 'warning' or absent, got {block_on!r}"
            )
        features = pd.DataFrame(dataset.features_data).reset_index(drop=True)
        exclude = [c for c in config.get("exclude", []) if c in reference.columns]
        targets = [
            c for c in _names(getattr(dataset, "targets_name", None)) if c in reference.columns
        ]
        reference = reference.drop(columns=[*exclude, *targets]).reset_index(drop=True)
        batch = features.drop(columns=[c for c in exclude if c in features.columns])
        scored = _predict(model, predictions, dataset, batch, reference)
        if scored is not None:
            batch[PREDICTION], reference[PREDICTION] = scored
        monitor = MonitorConfig(
            name="mlflow-evaluate",
            reference_uri="<training reference>",
            prediction_column=PREDICTION,
        )
        suite = infer_suite(reference, exclude=monitor.excluded)
        started = time.perf_counter()
        report, _ = check_batch(
            batch,
            reference=reference,
            suite=suite,
            config=monitor,
            batch_id=f"evaluation of run {run_id[:8]}",
        )
        report.sort()
        counts = {
            s.name.lower(): sum(1 for f in report.findings if f.severity == s) for s in Severity
        }
        drifted = {
            f.column
            for f in report.findings
            if f.check_kind == "drift" and f.severity >= Severity.WARNING
        }
        checked = [c for c in suite["columns"] if c in batch.columns]
        metrics = {
            "mileage_findings_blocking": float(counts.get("blocking", 0)),
            "mileage_findings_warning": float(counts.get("warning", 0)),
            "mileage_findings_info": float(counts.get("info", 0)),
            "mileage_validation_failures": float(
                sum(
                    1
                    for f in report.findings
                    if f.check_kind == "validation" and f.severity >= Severity.WARNING
                )
            ),
            "mileage_drifted_columns": float(len(drifted)),
            "mileage_drifted_columns_ratio": len(drifted) / max(1, len(checked)),
            "mileage_check_seconds": time.perf_counter() - started,
        }
        drift_page = (
            _evidently_page(reference, batch, DriftOptions().sample_rows)
            if config.get("evidently_report", True)
            else _NoReport("left out (evaluator_config 'evidently_report': False)")
        )
        artifacts = _log(
            run_id, metrics, report, _column_view(reference, batch, report), drift_page
        )
        worst = report.worst
        if block_on and worst is not None and worst >= Severity[block_on.upper()]:
            lines = [
                f"- {f.severity.name.lower()}: {f.message}"
                for f in report.findings
                if f.severity >= Severity[block_on.upper()]
            ]
            raise EvaluationBlockedError(
                f"evaluation data failed {len(lines)} check(s) at or above '{block_on}' (findings logged to "
                f"run {run_id}):\n" + "\n".join(lines[:20])
            )
        return EvaluationResult(metrics=metrics, artifacts=artifacts)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _reference(value: Any, run_id: str, model: Any) -> Any:
    import pandas as pd

    from mileage.monitors import read_frame

    if value is None:
        return _training_reference(run_id, model)
    if isinstance(value, pd.DataFrame):
        return value.copy()
    return read_frame(str(value), what="reference")


def _training_reference(run_id: str, model: Any) -> Any:
    """The training data of the evaluated run, or of the run that logged the model."""
    import pandas as pd

    from mileage.plugin._hooks import training_data

    model_run = getattr(getattr(model, "metadata", None), "run_id", None)
    runs = list(dict.fromkeys(r for r in (run_id, model_run) if r))
    for run in runs:
        data = training_data(run)
        if data is not None:
            return data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    for run in runs:
        loaded = _load_training_input(run)
        if loaded is not None:
            return loaded
    raise ConfigError(
        f"evaluator 'mileage' needs the training reference: run(s) {', '.join(runs) or '-'} have no "
        "training data this process saw and no training dataset input with a loadable source; "
        "pass evaluator_config={'mileage': {'reference': train_frame_or_path}}"
    )


def _load_training_input(run_id: str) -> Any:
    """The run's training dataset input, read from its source when that is a file or URL."""
    from mlflow import MlflowClient
    from mlflow.data import get_source

    from mileage.monitors import read_frame

    run = MlflowClient().get_run(run_id)
    inputs = run.inputs.dataset_inputs if run.inputs else []
    for item in inputs:
        context = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
        if context not in ("train", "training") or item.dataset.source_type == "code":
            continue
        try:
            path = get_source(item).load()
        except Exception:  # an unloadable source (a table, a code source): try the next
            continue
        return read_frame(str(path), what="reference")
    return None


def _column_view(reference: Any, batch: Any, report: Any) -> list[dict[str, Any]]:
    """Per column: reference against evaluation data (missing share, mean or top value) and
    the worst finding, the equivalent of a drift report's column table."""
    import pandas as pd

    worst: dict[str, Any] = {}
    for f in report.findings:
        if f.column is not None and (
            f.column not in worst or f.severity > worst[f.column].severity
        ):
            worst[f.column] = f
    rows = []
    for column in batch.columns:
        if column not in reference.columns:
            continue
        ref, cur = reference[column], batch[column]
        row: dict[str, Any] = {
            "column": str(column),
            "dtype": str(ref.dtype),
            "missing_reference": float(ref.isna().mean()) if len(ref) else 0.0,
            "missing_evaluation": float(cur.isna().mean()) if len(cur) else 0.0,
        }
        if pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur):
            row["summary_reference"] = f"mean {ref.mean():.4g}, sd {ref.std():.4g}"
            row["summary_evaluation"] = f"mean {cur.mean():.4g}, sd {cur.std():.4g}"
        else:
            top_ref, top_cur = (
                ref.astype(str).value_counts(normalize=True),
                cur.astype(str).value_counts(normalize=True),
            )
            row["summary_reference"] = (
                f"top {top_ref.index[0]!r} {top_ref.iloc[0]:.0%}" if len(top_ref) else "-"
            )
            row["summary_evaluation"] = (
                f"top {top_cur.index[0]!r} {top_cur.iloc[0]:.0%}" if len(top_cur) else "-"
            )
        finding = worst.get(column)
        row["worst"] = finding.severity.name.lower() if finding else "ok"
        row["finding"] = finding.message if finding else ""
        rows.append(row)
    return rows


class _NoReport(str):
    """Why the HTML artefact has no Evidently report (a reason, not a page)."""


def _evidently_page(reference: Any, batch: Any, sample_rows: int) -> str:
    """Evidently's data-drift report of ``batch`` against ``reference`` as an HTML page, or a
    :class:`_NoReport` saying why there is none (the evaluator's checks already ran, so a
    report Evidently cannot build costs the page, not the evaluation)."""
    import importlib.util
    import logging
    import os

    if importlib.util.find_spec("evidently") is None:
        return _NoReport(
            "needs the optional extra 'monitors' (evidently is not installed): "
            "pip install 'mileage[monitors]'"
        )
    os.environ.setdefault("DO_NOT_TRACK", "1")
    logging.getLogger("evidently").setLevel(logging.ERROR)
    from evidently import Report
    from evidently.presets import DataDriftPreset

    def sample(frame: Any, seed: int) -> Any:
        return frame.sample(n=sample_rows, random_state=seed) if len(frame) > sample_rows else frame

    columns = [c for c in batch.columns if c in reference.columns]
    try:
        snapshot = Report([DataDriftPreset()]).run(
            current_data=sample(batch[columns], 1), reference_data=sample(reference[columns], 0)
        )
        with tempfile.TemporaryDirectory(prefix="mileage-evidently-") as folder:
            path = Path(folder) / "drift.html"
            snapshot.save_html(str(path))
            return path.read_text(encoding="utf-8")
    except Exception as exc:  # Evidently's own limits (types it cannot compare)
        return _NoReport(f"Evidently could not build it: {type(exc).__name__}: {exc}")


def _predict(
    model: Any, predictions: Any, dataset: Any, batch: Any, reference: Any
) -> tuple[Any, Any] | None:
    """Predictions for the evaluation data and the reference, when a model is given."""
    import numpy as np

    if model is None:
        return None
    ours = np.asarray(model.predict(batch)).reshape(len(batch), -1)[:, 0]
    theirs = np.asarray(model.predict(reference)).reshape(len(reference), -1)[:, 0]
    return ours, theirs


def _log(
    run_id: str,
    metrics: dict[str, float],
    report: Any,
    columns: list[dict[str, Any]],
    drift_page: str,
) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from mlflow.models.evaluation.artifacts import JsonEvaluationArtifact

    client = MlflowClient()
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    findings = [f.to_dict() for f in report.findings]
    folder = Path(tempfile.mkdtemp(prefix="mileage-eval-"))
    json_path = folder / "mileage_findings.json"
    json_path.write_text(
        json.dumps(
            {"batch": report.batch_id, "findings": findings, "columns": columns},
            indent=2,
            default=str,
        )
    )
    html_path = folder / "mileage_findings.html"
    html_path.write_text(_html(metrics, findings, columns, drift_page), encoding="utf-8")
    client.log_artifact(run_id, str(json_path), "mileage")
    client.log_artifact(run_id, str(html_path), "mileage")
    artifact = JsonEvaluationArtifact(uri=f"runs:/{run_id}/mileage/mileage_findings.json")
    artifact._content = {"findings": findings, "columns": columns}
    return {"mileage_findings": artifact}


_COLOURS = {"blocking": "#f8d0d0", "warning": "#fbeec2", "info": "#e4eefb", "ok": "#e3f4e1"}


def _html(
    metrics: dict[str, float],
    findings: list[dict[str, Any]],
    columns: list[dict[str, Any]],
    drift_page: str,
) -> str:
    """A self-contained page: the counts, one row per column, every finding, then Evidently's
    data-drift report in a frame (or a line saying why it is not there)."""

    def cell(value: Any) -> str:
        return f"<td>{html.escape(str(value))}</td>"

    column_rows = "".join(
        f"<tr style='background:{_COLOURS.get(c['worst'], '#fff')}'>"
        + cell(c["column"])
        + cell(c["dtype"])
        + cell(c["summary_reference"])
        + cell(c["summary_evaluation"])
        + cell(f"{c['missing_reference']:.1%} / {c['missing_evaluation']:.1%}")
        + cell(c["worst"])
        + cell(c["finding"])
        + "</tr>"
        for c in columns
    )
    finding_rows = "".join(
        "<tr>"
        + cell(f["severity"])
        + cell(f["check_kind"])
        + cell(f.get("column") or "")
        + cell(f["message"])
        + "</tr>"
        for f in findings
    )
    counts = ", ".join(
        f"{k.removeprefix('mileage_')}: {v:g}"
        for k, v in metrics.items()
        if k != "mileage_check_seconds"
    )
    style = (
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style>"
        "<title>Mileage checks of the evaluation data</title></head><body>"
        "<h1>Mileage checks of the evaluation data</h1>"
        f"<p>{html.escape(counts)}</p>"
        "<h2>Columns: training reference against evaluation data</h2>"
        "<table><tr><th>column</th><th>type</th><th>reference</th><th>evaluation</th>"
        f"<th>missing (ref / eval)</th><th>worst</th><th>finding</th></tr>{column_rows}</table>"
        f"<h2>Findings ({len(findings)})</h2>"
        "<table><tr><th>severity</th><th>check</th><th>column</th><th>message</th></tr>"
        f"{finding_rows}</table>"
        "<h2>Evidently data-drift report</h2>"
        f"{_drift_section(drift_page)}</body></html>"
    )


def _drift_section(drift_page: str) -> str:
    if isinstance(drift_page, _NoReport):
        return f"<p class='no-evidently-report'>Evidently report: {html.escape(drift_page)}</p>"
    # srcdoc keeps the artefact one self-contained file; the report's scripts run in the frame.
    return (
        "<iframe class='evidently-report' style='width:100%;height:1400px;border:1px solid #bbb' "
        f'srcdoc="{html.escape(drift_page, quote=True)}"></iframe>'
    )
