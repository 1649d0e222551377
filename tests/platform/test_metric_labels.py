"""Source labels on metrics: short, stable, and free of credentials and user names."""

from __future__ import annotations

import pytest

from mileage.platform.metrics import source_label


@pytest.mark.parametrize(
    ("uri", "label"),
    [
        ("http://127.0.0.1:5000/api/v1/xml", "http://127.0.0.1:5000/.../v1/xml"),
        ("https://ana:s3cret@mlflow.example.com", "https://mlflow.example.com"),
        ("https://ana:s3cret@www.openml.org/api/v1/xml", "https://www.openml.org/.../v1/xml"),
        ("sqlite:////home/ana/runs/.mileage/mlflow.db", "sqlite:///.../.mileage/mlflow.db"),
        ("postgresql://ana:pw@db:5432/mlflow", "postgresql://db:5432/mlflow"),
        ("/data/mlruns", "/data/mlruns"),
    ],
)
def test_source_labels_keep_the_host_and_drop_credentials(uri: str, label: str) -> None:
    assert source_label(uri) == label
    assert "s3cret" not in source_label(uri) and "ana" not in source_label(uri)
