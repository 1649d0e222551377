"""Portable ``INSERT ... ON CONFLICT`` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from mileage.platform.errors import StoreError


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert rows, updating (or ignoring) those whose natural key already exists.

    Args:
        conn: Connection inside a transaction.
        table: Target table.
        rows: Rows with identical key sets.
        keys: Columns of the unique constraint that defines the natural key.
        update: Columns to overwrite on conflict; default all non-key columns given.
            An empty sequence means "do nothing" on conflict.
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(table)
    elif dialect == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - create_store_engine refuses other backends
        raise StoreError(f"upsert is not implemented for the {dialect!r} backend")
    columns = [c for c in rows[0] if c not in keys] if update is None else list(update)
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt, list(rows))
