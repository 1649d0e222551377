"""The monitored model's tracking server going away: a clear error naming the server and the
fix (never its credentials), and no finding about a batch that was not judged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mileage.monitors import MonitorConfig, ResolvedModel, check_batch, infer_suite
from mileage.monitors.checks._models import RegistryUnreachableError, resolve_model
from mileage.testing import free_port


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The address of a tracking server that is not running (no retries: the test is quick)."""
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield f"127.0.0.1:{free_port()}"
    mlflow.set_tracking_uri(before[0])  # loading a model sets them process-wide
    mlflow.set_registry_uri(before[1])


def test_an_unreachable_tracking_server_is_named_with_the_fix(no_server: str) -> None:
    with pytest.raises(RegistryUnreachableError) as caught:
        resolve_model("models:/churn@champion", f"http://ops:s3cret@{no_server}")
    message = str(caught.value)
    assert f"the MLflow tracking server at http://{no_server} is unreachable" in message
    assert "start the tracking server" in message and "MLFLOW_TRACKING_URI" in message
    assert "s3cret" not in message and "ops:" not in message


def test_a_batch_the_model_cannot_reach_is_not_judged(cancer, no_server: str) -> None:
    """Not a blocking 'scoring' finding (which would be stored, alerted and never retried):
    the check fails, so the batch stays unchecked until the server answers."""
    ref = cancer.reference.drop(columns=["label"]).assign(prediction=cancer.reference["label"])
    uri = f"http://{no_server}"
    config = MonitorConfig(
        name="cancer",
        reference_uri="reference.parquet",
        model_uri="models:/cancer/1",
        tracking_uri=uri,
    )
    suite = infer_suite(ref.drop(columns=["prediction"]), exclude=config.excluded)
    batch = cancer.held_out.drop(columns=["label"]).iloc[:40]
    model = ResolvedModel("models:/cancer/1", "models:/cancer/1", "cancer/1")
    with pytest.raises(RegistryUnreachableError, match=f"tracking server at {uri}"):
        check_batch(batch, reference=ref, suite=suite, config=config, batch_id="b", model=model)
