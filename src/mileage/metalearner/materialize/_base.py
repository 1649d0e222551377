"""The intermediate cache: an abstract base with a written contract, and a null cache."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mileage.metalearner.materialize._codec import decode, encode

#: Time to open, read and check one entry besides its bytes (seconds), before measurements.
DEFAULT_LOAD_OVERHEAD = 0.0005
#: Read and write speed assumed before the cache has measured its own (bytes per second).
DEFAULT_BANDWIDTH = 400e6


@dataclass(frozen=True)
class CacheEntry:
    """What the cache knows about one stored output.

    Attributes:
        key: The output fingerprint (the entry's address).
        bytes: Size of the stored blob; the budget counts exactly these bytes.
        sha256: Hash of the blob, checked on every read.
        priority: Eviction order: lower goes first (set by the materialization policy).
        workflow: Workflow that produced the output.
        operator: Operator that produced the output.
        compute_seconds: Time the operator took to produce it.
        write_seconds: Time it took to store it.
        load_seconds: Time the last read took (None before the first read).
        hits: Number of reads.
        created: Unix time of the write.
        last_used: Unix time of the last read (or of the write).
    """

    key: str
    bytes: int
    sha256: str
    priority: float
    workflow: str
    operator: str
    compute_seconds: float
    write_seconds: float
    load_seconds: float | None
    hits: int
    created: float
    last_used: float


@dataclass(frozen=True)
class PutResult:
    """Outcome of :meth:`IntermediateCache.put`.

    Attributes:
        admitted: Whether the entry is now stored.
        reason: ``stored``, ``exists``, ``too large``, ``no budget`` (higher-priority entries
            fill it) or ``disabled``.
        bytes: Size of the blob.
        write_seconds: Time spent writing (0 when not admitted).
        evicted: Keys removed to make room.
    """

    admitted: bool
    reason: str
    bytes: int
    write_seconds: float = 0.0
    evicted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measurement:
    """Last measured cost of one operator of one workflow (whatever its parameters)."""

    compute_seconds: float
    output_bytes: int


class IntermediateCache(abc.ABC):
    """A content-addressed store of operator outputs under a byte budget.

    Every implementation keeps this contract; ``tests/metalearner/materialize`` checks it.

    * **Addresses.** Keys are output fingerprints. Once an entry is ready its content never
      changes; putting a key that exists (or is being written) stores nothing.
    * **Budget.** The sizes of all entries, including those being written, never add up to
      more than :attr:`budget_bytes`, at any moment and across every process sharing the
      cache. Making room evicts entries of strictly lower priority, lowest first (ties: least
      recently used); if that cannot free enough, the new entry is refused and nothing is
      evicted.
    * **Integrity.** :meth:`get_blob` never returns bytes that differ from what was put: each
      read checks the size and SHA-256; an entry that fails is discarded with a
      :class:`~mileage.metalearner.CacheCorruptionWarning` and reported as a miss, so the
      caller recomputes it.
    * **Concurrency.** One instance may be used from several threads; several processes may
      open the same location at once. A read racing an eviction is a miss, never an error.
    * **Ownership.** The cache owns what it stores; callers never modify its files. Blobs and
      values returned are the caller's own copies; ``put`` keeps no reference to its argument.
    * **Statistics.** Reads and writes update the measured bandwidth used by
      :meth:`estimate_load_seconds`; :meth:`record_measurement` keeps each operator's last
      compute time and output size for planning.
    """

    @property
    @abc.abstractmethod
    def budget_bytes(self) -> int | None:
        """The byte budget shared by everyone using this cache (None: unlimited)."""

    @abc.abstractmethod
    def get_blob(self, key: str) -> bytes | None:
        """The stored blob of ``key`` after its hash check, or None (miss)."""

    @abc.abstractmethod
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
        """Store ``blob`` under ``key`` if the budget allows (see the class contract)."""

    @abc.abstractmethod
    def lookup(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        """Ready entries among ``keys`` (a miss is simply absent)."""

    @abc.abstractmethod
    def entries(self) -> list[CacheEntry]:
        """Every ready entry."""

    @abc.abstractmethod
    def set_priorities(self, priorities: Mapping[str, float]) -> None:
        """Change the priorities of existing entries (unknown keys are ignored)."""

    @abc.abstractmethod
    def discard(self, key: str) -> None:
        """Remove an entry (no error when absent)."""

    @abc.abstractmethod
    def used_bytes(self) -> int:
        """Bytes held by entries, including those being written."""

    @abc.abstractmethod
    def bandwidth(self) -> tuple[float, float]:
        """Measured (read, write) speed in bytes per second."""

    @abc.abstractmethod
    def record_measurement(
        self, workflow: str, operator: str, compute_seconds: float, output_bytes: int
    ) -> None:
        """Remember an operator's latest compute time and output size."""

    @abc.abstractmethod
    def measurements(self, workflow: str) -> dict[str, Measurement]:
        """Latest measurement of each operator of ``workflow``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources held by this instance (files stay)."""

    # -- conveniences built on the primitives ---------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The decoded value of ``key``, or ``default`` on a miss."""
        blob = self.get_blob(key)
        return default if blob is None else decode(blob)

    def put(self, key: str, value: Any, *, priority: float = 0.0, **info: Any) -> PutResult:
        """Encode ``value`` (NumPy/pandas/SciPy data, no pickle) and store it.

        Raises:
            NotCacheableError: The value cannot be stored without pickle.
        """
        return self.put_blob(key, encode(value), priority=priority, **info)

    def estimate_load_seconds(self, nbytes: int) -> float:
        """Expected time to read and check ``nbytes`` (from measured bandwidth)."""
        read, _ = self.bandwidth()
        return DEFAULT_LOAD_OVERHEAD + nbytes / read

    def estimate_write_seconds(self, nbytes: int) -> float:
        """Expected time to write ``nbytes``."""
        _, write = self.bandwidth()
        return DEFAULT_LOAD_OVERHEAD + nbytes / write

    def __enter__(self) -> IntermediateCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullCache(IntermediateCache):
    """A cache that stores nothing (materialize nothing; budget 0).

    It still remembers operator measurements in memory, for planning within one process.
    """

    def __init__(self) -> None:
        self._measured: dict[tuple[str, str], Measurement] = {}

    @property
    def budget_bytes(self) -> int | None:
        return 0

    def get_blob(self, key: str) -> bytes | None:
        return None

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
        return PutResult(False, "disabled", len(blob))

    def lookup(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        return {}

    def entries(self) -> list[CacheEntry]:
        return []

    def set_priorities(self, priorities: Mapping[str, float]) -> None:
        return None

    def discard(self, key: str) -> None:
        return None

    def used_bytes(self) -> int:
        return 0

    def bandwidth(self) -> tuple[float, float]:
        return DEFAULT_BANDWIDTH, DEFAULT_BANDWIDTH

    def record_measurement(
        self, workflow: str, operator: str, compute_seconds: float, output_bytes: int
    ) -> None:
        self._measured[(workflow, operator)] = Measurement(compute_seconds, output_bytes)

    def measurements(self, workflow: str) -> dict[str, Measurement]:
        return {op: m for (wf, op), m in self._measured.items() if wf == workflow}


__all__ = [
    "DEFAULT_BANDWIDTH",
    "DEFAULT_LOAD_OVERHEAD",
    "CacheEntry",
    "IntermediateCache",
    "Measurement",
    "NullCache",
    "PutResult",
]
