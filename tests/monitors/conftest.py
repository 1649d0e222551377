"""Fixtures for the monitor tests: real data (scikit-learn's breast cancer set) and a real
model registered in a real MLflow store (SQLite tracking URI) under an alias."""

from __future__ import annotations

import pytest

from mileage.testing.monitoring import CancerData, RegisteredModel, cancer_data, register_model


@pytest.fixture(scope="session")
def cancer() -> CancerData:
    return cancer_data()


@pytest.fixture(scope="session")
def registered_model(
    cancer: CancerData, tmp_path_factory: pytest.TempPathFactory
) -> RegisteredModel:
    return register_model(cancer, tmp_path_factory.mktemp("mlflow"))
