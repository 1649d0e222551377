"""The ``mileage`` model evaluator (entry point ``mlflow.model_evaluator``).

Inside ``mlflow.models.evaluate(..., evaluators=["mileage"])`` it checks the evaluation data
against the training reference with the monitors' validation (Great Expectations) and drift
(Evidently) checks, and the model's predictions for drift too. It logs the counts as metrics
and the findings as JSON and HTML artefacts, and raises only when asked to.

Example:
    >>> mlflow.models.evaluate(  # doctest: +SKIP
    ...     model_uri, eval_frame, targets="label", model_type="classifier",
    ...     evaluators=["default", "mileage"],
    ...     evaluator_config={"mileage": {"reference": train_frame, "block_on": "blocking"}},
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

from mileage.platform.errors import ConfigError, MileageError

PREDICTION = "prediction"


class EvaluationBlockedError(MileageError, RuntimeError):
    """The evaluation data failed the checks named by ``block_on``."""


class MileageEvaluator(ModelEvaluator):
    """Validation and drift checks of evaluation data against the training reference.

    ``evaluator_config`` keys:
        reference: The training data (a pandas DataFrame or a file the monitors can read).
        block_on: ``"blocking"`` or ``"warning"`` to raise when a finding is that severe;
            default never raises.
        exclude: Columns to leave out of the checks (ids, timestamps).
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

        from mileage.monitors import MonitorConfig, Severity, check_batch, infer_suite

        config = dict(evaluator_config or {})
        reference = _reference(config.get("reference"))
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
        artifacts = _log(run_id, metrics, report)
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


def _reference(value: Any) -> Any:
    import pandas as pd

    from mileage.monitors import read_frame

    if value is None:
        raise ConfigError(
            "evaluator 'mileage' needs the training reference: pass "
            "evaluator_config={'mileage': {'reference': train_frame_or_path}}"
        )
    if isinstance(value, pd.DataFrame):
        return value.copy()
    return read_frame(str(value), what="reference")


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


def _log(run_id: str, metrics: dict[str, float], report: Any) -> dict[str, Any]:
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
        json.dumps({"batch": report.batch_id, "findings": findings}, indent=2, default=str)
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(f['severity']))}</td><td>{html.escape(str(f['check_kind']))}</td>"
        f"<td>{html.escape(str(f.get('column') or ''))}</td><td>{html.escape(str(f['message']))}</td></tr>"
        for f in findings
    )
    html_path = folder / "mileage_findings.html"
    html_path.write_text(
        "<html><body><h1>Mileage checks of the evaluation data</h1>"
        f"<p>{len(findings)} findings</p><table border='1'><tr><th>severity</th><th>check</th>"
        f"<th>column</th><th>message</th></tr>{rows}</table></body></html>"
    )
    client.log_artifact(run_id, str(json_path), "mileage")
    client.log_artifact(run_id, str(html_path), "mileage")
    artifact = JsonEvaluationArtifact(uri=f"runs:/{run_id}/mileage/mileage_findings.json")
    artifact._content = {"findings": findings}
    return {"mileage_findings": artifact}
