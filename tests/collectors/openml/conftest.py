"""Fixtures: the recorded OpenML responses, served from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mileage.platform.settings import Settings
from mileage.testing import require_shared_data
from mileage.testing.openml import RecordedOpenmlServer


@pytest.fixture(scope="session")
def openml_responses() -> Path:
    return require_shared_data("openml-responses")


@pytest.fixture
def openml_server(
    openml_responses: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[RecordedOpenmlServer]:
    """The recordings on a free port of 127.0.0.1, with openml-python configured for it."""
    import openml

    with RecordedOpenmlServer(openml_responses, slow_seconds=2.0) as server:
        monkeypatch.setattr(openml.config, "server", server.url)
        monkeypatch.setattr(openml.config, "_root_cache_directory", tmp_path / "openml-cache")
        yield server


@pytest.fixture
def fast_settings(tmp_path: Path) -> Settings:
    """Three attempts, a one-second timeout: fault tests stay quick."""
    return Settings.load(
        config_file=None, home=tmp_path / "home", http_retries=3, http_timeout_seconds=1.0
    )
