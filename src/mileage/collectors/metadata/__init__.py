"""Importers of published meta-data: TabRepo, auto-sklearn, FLAML zero-shot and LCDB.

Each produces datasets with meta-features, tasks, configurations and scored runs in
Mileage's vocabulary (:mod:`mileage.platform.vocabulary`); ``mileage collect metadata
--source NAME [--path DIR]`` runs one.
"""

from __future__ import annotations

from mileage.collectors.metadata._base import (
    ConfigSpec,
    DatasetSpec,
    MetadataBatch,
    MetadataReport,
    MetadataSource,
    PortfolioSpec,
    RunSpec,
    TaskSpec,
    check_complete_csv,
    read_csv_rows,
)
from mileage.collectors.metadata._import import (
    SOURCES,
    MetadataCollector,
    MetadataRead,
    download,
    get_source,
    import_metadata,
)

__all__ = [
    "SOURCES",
    "ConfigSpec",
    "DatasetSpec",
    "MetadataBatch",
    "MetadataCollector",
    "MetadataRead",
    "MetadataReport",
    "MetadataSource",
    "PortfolioSpec",
    "RunSpec",
    "TaskSpec",
    "check_complete_csv",
    "download",
    "get_source",
    "import_metadata",
    "read_csv_rows",
]
