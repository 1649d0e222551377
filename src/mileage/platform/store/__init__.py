"""The trace store: SQLAlchemy Core tables, Alembic migrations and a thin access layer."""

from __future__ import annotations

from mileage.platform.store import schema
from mileage.platform.store._engine import create_store_engine, normalize_url, redact_url
from mileage.platform.store._status import (
    CollectionPass,
    SourceStatus,
    StoreStatus,
    store_status,
)
from mileage.platform.store._store import (
    TraceStore,
    as_utc,
    epoch_seconds,
    migrate,
    pack_history,
    schema_is_current,
    unpack_history,
    utcnow,
)
from mileage.platform.store._upsert import upsert

__all__ = [
    "CollectionPass",
    "SourceStatus",
    "StoreStatus",
    "TraceStore",
    "as_utc",
    "create_store_engine",
    "epoch_seconds",
    "migrate",
    "normalize_url",
    "pack_history",
    "redact_url",
    "schema",
    "schema_is_current",
    "store_status",
    "unpack_history",
    "upsert",
    "utcnow",
]
