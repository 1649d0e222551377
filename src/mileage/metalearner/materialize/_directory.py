"""A directory of blobs with a SQLite index, shared safely by threads and processes."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from mileage.metalearner._errors import CacheCorruptionWarning, CacheError
from mileage.metalearner.materialize._base import (
    DEFAULT_BANDWIDTH,
    CacheEntry,
    IntermediateCache,
    Measurement,
    PutResult,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT,
    priority REAL NOT NULL,
    workflow TEXT NOT NULL,
    operator TEXT NOT NULL,
    compute_seconds REAL NOT NULL,
    write_seconds REAL NOT NULL DEFAULT 0,
    load_seconds REAL,
    hits INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS ix_entries_eviction ON entries (state, priority, last_used);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value REAL);
CREATE TABLE IF NOT EXISTS measurements (
    workflow TEXT NOT NULL,
    operator TEXT NOT NULL,
    compute_seconds REAL NOT NULL,
    output_bytes INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (workflow, operator)
);
"""
_COLUMNS = (
    "key, bytes, sha256, priority, workflow, operator, compute_seconds, write_seconds, "
    "load_seconds, hits, created, last_used"
)
#: Reservations older than this are considered abandoned even if their owner looks alive.
_STALE_SECONDS = 3600.0
#: Weight of a new bandwidth measurement in the running estimate.
_EMA = 0.2


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DirectoryCache(IntermediateCache):
    """Blobs in ``<path>/objects``, an index in ``<path>/index.db`` (SQLite, WAL).

    Admission and eviction happen inside one ``BEGIN IMMEDIATE`` transaction of the index,
    which serialises them across threads and processes; blobs are written to ``tmp/`` and
    moved into place with an atomic rename, and become visible only when the index marks
    them ready. Reservations left by a killed writer are reclaimed by the next admission.
    Files are not fsynced: after a power loss an entry may fail its hash check, and is then
    discarded and recomputed.

    Args:
        path: Folder of the cache (created when missing).
        budget_bytes: Byte budget (None: unlimited; ``"keep"``: the budget already stored,
            unlimited for a new cache). It is stored in the index, so the most recent
            instance's budget applies to every process sharing the folder; lowering it
            evicts at once.

    Raises:
        CacheError: The folder cannot be created or its index cannot be opened.

    Example:
        >>> import tempfile, numpy as np
        >>> cache = DirectoryCache(tempfile.mkdtemp(), budget_bytes=10_000_000)
        >>> cache.put("ab" * 32, {"X": np.arange(3)}, priority=1.0).admitted
        True
        >>> cache.get("ab" * 32)["X"].tolist()
        [0, 1, 2]
    """

    def __init__(
        self, path: str | Path, *, budget_bytes: int | Literal["keep"] | None = None
    ) -> None:
        if (
            budget_bytes != "keep"
            and budget_bytes is not None
            and (not isinstance(budget_bytes, int) or budget_bytes < 0)
        ):
            raise CacheError(
                f"cache budget must be >= 0 bytes, None (unlimited) or 'keep', got "
                f"{budget_bytes!r}."
            )
        self.path = Path(path).expanduser()
        try:
            (self.path / "objects").mkdir(parents=True, exist_ok=True)
            (self.path / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot create the intermediate cache at {str(self.path)!r}: {exc}; choose a "
                "writable folder (setting MILEAGE_HOME or --cache)."
            ) from None
        self._local = threading.local()
        self._host = socket.gethostname()
        try:
            with self._conn() as conn:
                conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CacheError(
                f"cannot open the cache index {str(self.path / 'index.db')!r}: {exc}; delete the "
                "cache folder to start afresh (it only holds reproducible intermediates)."
            ) from None
        if budget_bytes == "keep":
            with self._exclusive() as conn:
                conn.execute(
                    "INSERT INTO settings (name, value) VALUES ('budget_bytes', NULL) "
                    "ON CONFLICT (name) DO NOTHING"
                )
        else:
            self._set_budget(budget_bytes)

    # -- connections ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(
                self.path / "index.db", timeout=60.0, isolation_level=None, check_same_thread=True
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        yield self._connection()

    @contextmanager
    def _exclusive(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that excludes every other writer (all processes)."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    # -- budget -----------------------------------------------------------------------------

    def _set_budget(self, budget: int | None) -> None:
        with self._exclusive() as conn:
            conn.execute(
                "INSERT INTO settings (name, value) VALUES ('budget_bytes', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (None if budget is None else float(budget),),
            )
            if budget is not None:
                used = self._used(conn)
                if used > budget:
                    victims = self._victims(conn, used - budget, None)
                    self._evict(conn, [k for k, _ in victims or []])

    @property
    def budget_bytes(self) -> int | None:
        with self._conn() as conn:
            return self._budget(conn)

    @staticmethod
    def _budget(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT value FROM settings WHERE name = 'budget_bytes'").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @staticmethod
    def _used(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM entries").fetchone()[0])

    def used_bytes(self) -> int:
        with self._conn() as conn:
            return self._used(conn)

    # -- paths ------------------------------------------------------------------------------

    def _blob_path(self, key: str) -> Path:
        return self.path / "objects" / key[:2] / f"{key}.blob"

    @staticmethod
    def _check_key(key: str) -> None:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise CacheError(
                f"cache key {key!r:.80} is not a lowercase hex fingerprint; use the output "
                "fingerprints the workflow computes."
            )

    # -- reads ------------------------------------------------------------------------------

    def _row(self, conn: sqlite3.Connection, key: str) -> CacheEntry | None:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM entries WHERE key = ? AND state = 'ready'",  # noqa: S608
            (key,),
        ).fetchone()
        return CacheEntry(*row) if row else None

    def get_blob(self, key: str) -> bytes | None:
        self._check_key(key)
        with self._conn() as conn:
            entry = self._row(conn, key)
        if entry is None:
            return None
        started = time.perf_counter()
        try:
            blob = self._blob_path(key).read_bytes()
        except FileNotFoundError:
            with self._conn() as conn:
                still = self._row(conn, key)
            if still is None or still.sha256 != entry.sha256:
                return None  # evicted (or replaced) while we looked: an ordinary miss
            self._corrupted(entry, "its file is missing")
            return None
        if len(blob) != entry.bytes:
            self._corrupted(entry, f"it has {len(blob)} bytes instead of {entry.bytes}")
            return None
        if hashlib.sha256(blob).hexdigest() != entry.sha256:
            self._corrupted(entry, "its SHA-256 does not match")
            return None
        seconds = time.perf_counter() - started
        now = time.time()
        with self._exclusive() as conn:
            conn.execute(
                "UPDATE entries SET hits = hits + 1, last_used = ?, load_seconds = ? WHERE key = ?",
                (now, seconds, key),
            )
            self._update_bandwidth(conn, "read_bps", len(blob), seconds)
        return blob

    def _corrupted(self, entry: CacheEntry, why: str) -> None:
        message = (
            f"cache entry {entry.key[:16]} ({entry.operator or '?'} of workflow "
            f"{entry.workflow or '?'}) failed its integrity check: {why}. It was discarded and "
            "will be recomputed."
        )
        warnings.warn(message, CacheCorruptionWarning, stacklevel=3)
        log.warning(message)
        with self._exclusive() as conn:
            conn.execute(
                "DELETE FROM entries WHERE key = ? AND sha256 = ?", (entry.key, entry.sha256)
            )
            self._blob_path(entry.key).unlink(missing_ok=True)

    def lookup(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, CacheEntry] = {}
        with self._conn() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT {_COLUMNS} FROM entries "  # noqa: S608
                    f"WHERE state = 'ready' AND key IN ({marks})",
                    chunk,
                ):
                    out[row[0]] = CacheEntry(*row)
        return out

    def entries(self) -> list[CacheEntry]:
        with self._conn() as conn:
            return [
                CacheEntry(*row)
                for row in conn.execute(
                    f"SELECT {_COLUMNS} FROM entries WHERE state = 'ready' ORDER BY key"  # noqa: S608
                )
            ]

    # -- writes -----------------------------------------------------------------------------

    def _owner(self) -> str:
        return f"{self._host}:{os.getpid()}"

    def _reclaim(self, conn: sqlite3.Connection) -> None:
        """Drop reservations whose writer died (same host) or that are too old."""
        now = time.time()
        for key, owner, created in conn.execute(
            "SELECT key, owner, created FROM entries WHERE state = 'writing'"
        ).fetchall():
            host, _, pid = (owner or "").rpartition(":")
            dead = host == self._host and pid.isdigit() and not _pid_alive(int(pid))
            if dead or now - created > _STALE_SECONDS:
                conn.execute("DELETE FROM entries WHERE key = ? AND state = 'writing'", (key,))
                for tmp in (self.path / "tmp").glob(f"{key}.*"):
                    tmp.unlink(missing_ok=True)

    @staticmethod
    def _victims(
        conn: sqlite3.Connection, need: int, below: float | None
    ) -> list[tuple[str, int]] | None:
        """Lowest-priority ready entries freeing ``need`` bytes, or None if impossible."""
        query = "SELECT key, bytes FROM entries WHERE state = 'ready'"
        args: tuple[float, ...] = ()
        if below is not None:
            query += " AND priority < ?"
            args = (below,)
        freed, chosen = 0, []
        for key, size in conn.execute(query + " ORDER BY priority, last_used, key", args):
            if freed >= need:
                break
            chosen.append((str(key), int(size)))
            freed += int(size)
        return chosen if freed >= need else None

    def _evict(self, conn: sqlite3.Connection, keys: list[str]) -> None:
        for key in keys:
            conn.execute("DELETE FROM entries WHERE key = ?", (key,))
            # Removed inside the transaction so the files on disk never exceed the budget.
            self._blob_path(key).unlink(missing_ok=True)

    def put_blob(
        self,
        key: str,
        blob: bytes,
        *,
        priority: float,
        workflow: str = "",
        operator: str = "",
        compute_seconds: float = 0.0,
    ) -> PutResult:
        self._check_key(key)
        size = len(blob)
        now = time.time()
        with self._exclusive() as conn:
            budget = self._budget(conn)
            if budget is not None and size > budget:
                return PutResult(False, "too large", size)
            self._reclaim(conn)
            if conn.execute("SELECT 1 FROM entries WHERE key = ?", (key,)).fetchone():
                return PutResult(False, "exists", size)
            victims: list[tuple[str, int]] = []
            if budget is not None:
                need = self._used(conn) + size - budget
                if need > 0:
                    found = self._victims(conn, need, priority)
                    if found is None:
                        return PutResult(False, "no budget", size)
                    victims = found
            self._evict(conn, [k for k, _ in victims])
            conn.execute(
                "INSERT INTO entries (key, state, bytes, priority, workflow, operator, "
                "compute_seconds, created, last_used, owner) "
                "VALUES (?, 'writing', ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, size, priority, workflow, operator, compute_seconds, now, now, self._owner()),
            )
        started = time.perf_counter()
        final = self._blob_path(key)
        tmp = self.path / "tmp" / f"{key}.{self._host}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            final.parent.mkdir(exist_ok=True)
            tmp.write_bytes(blob)
            tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            with self._exclusive() as conn:
                conn.execute(
                    "DELETE FROM entries WHERE key = ? AND state = 'writing' AND owner = ?",
                    (key, self._owner()),
                )
            raise
        seconds = time.perf_counter() - started
        digest = hashlib.sha256(blob).hexdigest()
        with self._exclusive() as conn:
            updated = conn.execute(
                "UPDATE entries SET state = 'ready', sha256 = ?, write_seconds = ?, owner = NULL "
                "WHERE key = ? AND state = 'writing' AND owner = ?",
                (digest, seconds, key, self._owner()),
            ).rowcount
            if not updated:  # our reservation was reclaimed: do not leave an unindexed file
                final.unlink(missing_ok=True)
                return PutResult(False, "reclaimed", size)
            self._update_bandwidth(conn, "write_bps", size, seconds)
        return PutResult(True, "stored", size, seconds, tuple(k for k, _ in victims))

    def set_priorities(self, priorities: Mapping[str, float]) -> None:
        if not priorities:
            return
        with self._exclusive() as conn:
            conn.executemany(
                "UPDATE entries SET priority = ? WHERE key = ?",
                [(float(p), k) for k, p in priorities.items()],
            )

    def discard(self, key: str) -> None:
        with self._exclusive() as conn:
            conn.execute("DELETE FROM entries WHERE key = ? AND state = 'ready'", (key,))
            self._blob_path(key).unlink(missing_ok=True)

    # -- statistics -------------------------------------------------------------------------

    @staticmethod
    def _update_bandwidth(conn: sqlite3.Connection, name: str, size: int, seconds: float) -> None:
        if size < 65536 or seconds <= 0:
            return  # small blobs measure overhead, not bandwidth
        measured = size / seconds
        row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        value = measured if row is None else (1 - _EMA) * float(row[0]) + _EMA * measured
        conn.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def bandwidth(self) -> tuple[float, float]:
        with self._conn() as conn:
            rows = dict(
                conn.execute(
                    "SELECT name, value FROM settings WHERE name IN ('read_bps', 'write_bps')"
                ).fetchall()
            )
        return (
            float(rows.get("read_bps") or DEFAULT_BANDWIDTH),
            float(rows.get("write_bps") or DEFAULT_BANDWIDTH),
        )

    def record_measurement(
        self, workflow: str, operator: str, compute_seconds: float, output_bytes: int
    ) -> None:
        with self._exclusive() as conn:
            conn.execute(
                "INSERT INTO measurements (workflow, operator, compute_seconds, output_bytes, "
                "updated) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workflow, operator) DO UPDATE SET "
                "compute_seconds = excluded.compute_seconds, output_bytes = excluded.output_bytes, "
                "updated = excluded.updated",
                (workflow, operator, compute_seconds, output_bytes, time.time()),
            )

    def measurements(self, workflow: str) -> dict[str, Measurement]:
        with self._conn() as conn:
            return {
                op: Measurement(float(c), int(b))
                for op, c, b in conn.execute(
                    "SELECT operator, compute_seconds, output_bytes FROM measurements "
                    "WHERE workflow = ?",
                    (workflow,),
                )
            }

    def verify(self) -> list[str]:
        """Check every ready entry against its file; returns the problems found (no repair)."""
        problems = []
        for entry in self.entries():
            path = self._blob_path(entry.key)
            if not path.is_file():
                problems.append(f"{entry.key[:16]}: file missing")
                continue
            data = path.read_bytes()
            if len(data) != entry.bytes or hashlib.sha256(data).hexdigest() != entry.sha256:
                problems.append(f"{entry.key[:16]}: content does not match the index")
        indexed = {e.key for e in self.entries()}
        for path in (self.path / "objects").glob("*/*.blob"):
            if path.stem not in indexed:
                with self._conn() as conn:
                    writing = conn.execute(
                        "SELECT 1 FROM entries WHERE key = ?", (path.stem,)
                    ).fetchone()
                if not writing:
                    problems.append(f"{path.stem[:16]}: file not in the index")
        budget = self.budget_bytes
        if budget is not None and self.used_bytes() > budget:
            problems.append(f"used {self.used_bytes()} bytes > budget {budget}")
        return problems

    def __repr__(self) -> str:
        return f"DirectoryCache({str(self.path)!r}, budget_bytes={self.budget_bytes})"


__all__ = ["DirectoryCache"]
