"""One active scheduler per deployment: a PostgreSQL advisory lock or a SQLite file lock.

APScheduler 3.x cannot share a job store between schedulers, so replicas elect a leader.
On PostgreSQL the lock belongs to a database session and is released when the process
dies; on SQLite an exclusive ``flock`` on a file beside the database does the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, text


#: Advisory-lock key: a stable 63-bit number derived from the lock name.
def lock_key(name: str) -> int:
    """Signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    """Try-lock held for as long as this replica leads.

    Args:
        engine: The trace store's engine (decides the mechanism).
        name: Lock name; replicas of one deployment share it.
    """

    def __init__(self, engine: Engine, name: str = "mileage-daemon") -> None:
        self.engine = engine
        self.name = name
        self._conn: Any = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def _lock_path(self) -> Path | None:
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        # The whole file name: prod.db and prod.sqlite are two stores with two locks.
        store = Path(database).expanduser().resolve()
        return store.with_name(f"{store.name}.daemon.lock")

    def acquire(self) -> bool:
        """Take the lock if free; never blocks."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.name)}
                ).scalar()
            )
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        path = self._lock_path()
        if path is None:
            self._file = Path(os.devnull).open()  # noqa: SIM115 - an in-memory store has one replica
            return True
        handle = path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def alive(self) -> bool:
        """Whether the lock is still ours (a PostgreSQL session can drop)."""
        if self._conn is None:
            return self._file is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            self._conn = None
            return False

    def release(self) -> None:
        """Give up leadership."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)}
                )
                self._conn.commit()
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
