"""Fixtures: the published meta-data in the shared reference data, imported once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mileage.collectors.metadata import MetadataReport, import_metadata
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data


@pytest.fixture(scope="module")
def imported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TraceStore, MetadataReport]]:
    """The module's ``SOURCE`` (from the shared folder ``FOLDER``) imported into a fresh
    SQLite store."""
    name = request.module.SOURCE
    store = TraceStore.open(f"sqlite:///{tmp_path_factory.mktemp(name) / 'trace.db'}")
    report = import_metadata(store, name, require_shared_data(request.module.FOLDER))
    yield store, report
    store.close()
