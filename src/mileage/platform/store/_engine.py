"""Engines for the supported backends: SQLite (embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mileage.platform.errors import ConfigError

#: A table only Mileage creates: its presence tells our store from someone else's file.
OWN_TABLE = "collector_passes"


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    tables = {
        row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    # WAL lets the daemon, a collector and the CLI read and write at the same time. It is
    # written into the file, so it is only set on a new file or one of ours, never on a
    # foreign database the URL points at by mistake (TraceStore.open then refuses it).
    if not tables or OWN_TABLE in tables:
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalize_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver; keep others."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _create_private(path: Path) -> None:
    """Create the store's folder (0700) and file (0600) when missing: it may hold secrets.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions.
    """
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def create_store_engine(url: str) -> Engine:
    """Create an engine for the trace store.

    Args:
        url: SQLAlchemy URL (``sqlite:///path``, ``postgresql://user@host/db``).

    Returns:
        An engine with the pragmas Mileage relies on.

    Raises:
        ConfigError: The URL is malformed or names an unsupported backend.
    """
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"trace store URL {url!r} is not a valid SQLAlchemy URL; use e.g. "
            "'sqlite:///.mileage/mileage.db' or 'postgresql://user@host:5432/mileage' "
            "(setting MILEAGE_DB_URL)."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database).expanduser())
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(
        f"trace store backend {backend!r} (from {redact_url(url)!r}) is not supported; "
        "use SQLite ('sqlite:///path.db') or PostgreSQL ('postgresql://...')."
    )
