"""The trace store: one database (SQLite or PostgreSQL) shared by collectors, the
meta-learner, monitors and the daemon."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.exc import DatabaseError, OperationalError

from mileage.platform.errors import StoreError
from mileage.platform.store import schema as t
from mileage.platform.store._engine import OWN_TABLE, create_store_engine, redact_url
from mileage.platform.store._upsert import upsert

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware time; naive values are UTC (SQLite returns the UTC times it stores
    without their zone)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def epoch_seconds(value: datetime | float) -> float:
    """Unix seconds of a stored time (naive means UTC); numbers pass through."""
    return as_utc(value).timestamp() if isinstance(value, datetime) else float(value)


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "mileage.platform.store:migrations")
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest revision of every branch."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "heads")


def schema_is_current(engine: Engine) -> bool:
    """Whether every migration of every branch has been applied."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        script = ScriptDirectory.from_config(_alembic_config(conn))
        todo = list(MigrationContext.configure(conn).get_current_heads())
    applied: set[str] = set()
    while todo:  # everything below the recorded heads, through parents and dependencies
        rev = script.get_revision(todo.pop())
        if rev is None or rev.revision in applied:
            continue
        applied.add(rev.revision)
        todo.extend(rev._all_down_revisions)
    return all(rev.revision in applied for rev in script.walk_revisions())


def _refuse_foreign(engine: Engine, url: str) -> None:
    """Refuse an SQLite file that holds tables but none of ours (an MLflow database, say):
    migrating it would add our tables to someone else's file."""
    if engine.dialect.name != "sqlite":
        return
    tables = set(inspect(engine).get_table_names())
    if tables and OWN_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"{redact_url(url)!r} is not a Mileage trace store: it holds other tables "
            f"({shown}) and none of Mileage's. Point MILEAGE_DB_URL at a new file."
        )


class TraceStore:
    """Access to the trace store.

    The store owns its engine. Methods that write take a connection from :meth:`begin`
    so callers can group several writes (rows and the cursor that covers them) into one
    transaction. Thread-safe as far as the engine's pool is.

    A store is a context manager that closes it on exit.

    Example:
        >>> with TraceStore.open("sqlite:///:memory:") as store:
        ...     store.counts()["runs"]
        0
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> TraceStore:
        """Open (and by default create or upgrade) the store at ``url``.

        Args:
            url: SQLAlchemy URL.
            migrate_schema: Apply pending migrations; when False an out-of-date schema
                raises instead.

        Raises:
            ConfigError: The URL is invalid.
            StoreError: The database cannot be reached or its schema is out of date.
        """
        engine = create_store_engine(url)
        try:
            _refuse_foreign(engine, url)
            if migrate_schema:
                migrate(engine)
            elif not schema_is_current(engine):
                raise StoreError(
                    f"trace store {redact_url(url)!r} has an out-of-date schema; "
                    "run 'mileage init' to upgrade it."
                )
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open the trace store {redact_url(url)!r}: {exc.orig}; check "
                "MILEAGE_DB_URL and that the database server is running."
            ) from None
        except DatabaseError as exc:  # not a database, or a damaged one
            engine.dispose()
            raise StoreError(
                f"trace store {redact_url(url)!r} cannot be read: {exc.orig}; the file is not "
                "a database or is damaged. Restore it from a backup, or point MILEAGE_DB_URL "
                "at a new file."
            ) from None
        except StoreError:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> str:
        """The store URL with any password hidden."""
        return redact_url(self.engine.url.render_as_string(hide_password=False))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside a transaction, committed on success and rolled back on error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"trace store {self.url!r}: {exc.orig}") from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection."""
        with self.engine.connect() as conn:
            yield conn

    # -- sources and cursors -------------------------------------------------------------

    def ensure_source(self, kind: str, uri: str, display_name: str | None = None) -> int:
        """Return the id of the source ``(kind, uri)``, creating it when new."""
        with self.begin() as conn:
            upsert(
                conn,
                t.sources,
                [
                    {
                        "kind": kind,
                        "uri": uri,
                        "display_name": display_name or uri,
                        "created_at": utcnow(),
                    }
                ],
                keys=("kind", "uri"),
                update=(),
            )
            return int(
                conn.execute(
                    select(t.sources.c.id).where(t.sources.c.kind == kind, t.sources.c.uri == uri)
                ).scalar_one()
            )

    @staticmethod
    def read_cursor(conn: Connection, source_id: int) -> dict[str, Any]:
        """The collector cursor of a source (empty when it never ran)."""
        row = conn.execute(
            select(t.collector_cursors.c.position).where(
                t.collector_cursors.c.source_id == source_id
            )
        ).scalar_one_or_none()
        return dict(row) if row else {}

    @staticmethod
    def write_cursor(conn: Connection, source_id: int, position: dict[str, Any]) -> None:
        """Advance the cursor; call it in the transaction that wrote the rows it covers."""
        upsert(
            conn,
            t.collector_cursors,
            [{"source_id": source_id, "position": position, "updated_at": utcnow()}],
            keys=("source_id",),
        )

    # -- reads ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Row counts of every table Mileage declares."""
        out: dict[str, int] = {}
        with self.connect() as conn:
            for table in t.metadata.sorted_tables:
                out[table.name] = int(
                    conn.execute(select(func.count()).select_from(table)).scalar_one()
                )
        return out

    def table_names(self) -> list[str]:
        """Tables present in the database."""
        return sorted(inspect(self.engine).get_table_names())

    def metric_history(self, run_id: int, key: str) -> dict[str, np.ndarray]:
        """The full history of one metric of one run.

        Returns:
            ``{"step": int64[], "timestamp": int64[], "value": float64[]}`` in step order.

        Raises:
            KeyError: The run has no metric ``key``.
        """
        with self.connect() as conn:
            row = conn.execute(
                select(
                    t.metric_histories.c.steps,
                    t.metric_histories.c.timestamps,
                    t.metric_histories.c["values"],
                ).where(t.metric_histories.c.run_id == run_id, t.metric_histories.c.key == key)
            ).one_or_none()
        if row is None:
            raise KeyError(f"run {run_id} has no metric {key!r}")
        return unpack_history(row[0], row[1], row[2])


def pack_history(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """Columns of a ``metric_histories`` row for one series (already sorted)."""
    values = np.asarray(values, dtype="<f8")
    finite = np.isfinite(values)
    n_nonfinite = int(values.size - finite.sum())
    last = float(values[-1])
    return {
        "n_points": int(values.size),
        "last_step": int(steps[-1]),
        "last_ms": int(timestamps[-1]),
        "last_value": None if np.isnan(last) else last,
        "min_value": float(values[finite].min()) if finite.any() else None,
        "max_value": float(values[finite].max()) if finite.any() else None,
        "n_nonfinite": n_nonfinite,
        "steps": np.asarray(steps, dtype="<i8").tobytes(),
        "timestamps": np.asarray(timestamps, dtype="<i8").tobytes(),
        "values": values.tobytes(),
    }


def unpack_history(steps: bytes, timestamps: bytes, values: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_history`."""
    return {
        "step": np.frombuffer(steps, dtype="<i8"),
        "timestamp": np.frombuffer(timestamps, dtype="<i8"),
        "value": np.frombuffer(values, dtype="<f8"),
    }


__all__ = [
    "TraceStore",
    "migrate",
    "pack_history",
    "schema_is_current",
    "unpack_history",
    "utcnow",
]
