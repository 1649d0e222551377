"""An OpenML pass split in two: a worker fetches and parses, the caller writes.

The worker runs the pass's own code against the stored state the caller gave it (cursor,
run signatures, the flows, tasks and datasets already stored) with every write left out,
and records each answer the source gave (:class:`RecordingSource`). The caller runs the
pass again with the store, answered from the recording (:class:`ReplaySource`): both make
the same decisions from the same state, so the caller asks for exactly what the worker
fetched, and rows, cursor and warnings are those of a local pass. A call the recording does
not hold (the store changed in between, for example another process wrote the source) is
asked of the source itself. An error the source raised on the worker is raised again at
the same call, so a failing pass writes what a local one would have written before it.

One part reads at most ``MILEAGE_COLLECT_TASK_RUNS`` run descriptions (with the flows,
setups, tasks and datasets they need); the next part continues with the runs still to read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mileage.collectors.openml._assemble import Known
from mileage.collectors.openml._client import Answer, NoResult, OpenmlSource, Validator
from mileage.collectors.openml._records import FlowRecord, TaskRecord
from mileage.platform.errors import CollectorError, DataError, SourceUnavailableError

log = logging.getLogger(__name__)

#: Errors a source raises, by name: a recorded one is raised again in the caller.
_ERRORS: dict[str, type[Exception]] = {
    "SourceUnavailableError": SourceUnavailableError,
    "CollectorError": CollectorError,
    "DataError": DataError,
}


@dataclass(frozen=True)
class Failure:
    """An error the source raised for a call, recorded by name and message."""

    error: str
    message: str

    def raise_again(self) -> None:
        raise _ERRORS.get(self.error, CollectorError)(self.message)


@dataclass
class StoredState:
    """What a pass knows from the store before it reads anything (see ``_Pass.load_stored``).

    Attributes:
        cursor: The source's cursor.
        signatures: Stored run signatures by run id.
        flows: Stored flows with their structure.
        flow_names: Names of stored flows without a structure.
        tasks: Tasks stored as described (``status == ok``).
        datasets_ok: Datasets stored with their qualities.
    """

    cursor: dict[str, Any] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    flows: dict[int, FlowRecord] = field(default_factory=dict)
    flow_names: dict[int, str] = field(default_factory=dict)
    tasks: dict[int, TaskRecord] = field(default_factory=dict)
    datasets_ok: set[int] = field(default_factory=set)

    def apply(self, known: Known, datasets_ok: set[int]) -> None:
        """Fill a pass's catalog with this state."""
        known.flows.update(self.flows)
        known.flow_names.update(self.flow_names)
        known.tasks.update(self.tasks)
        datasets_ok.update(self.datasets_ok)


@dataclass(frozen=True)
class OpenmlInputs:
    """What a worker reads a part against."""

    state: StoredState
    skip: frozenset[str] = frozenset()
    limit: int | None = None


@dataclass
class OpenmlRead:
    """Every answer one part of a pass got from the source, before anything was written.

    Attributes:
        uri: The source's identity (its host).
        location: Where it was read, for messages.
        can_list: Whether the source answers list calls.
        answers: The answer (or the error) of each call, in the order asked.
        skip: Runs earlier parts tried (the replay skips them too).
        limit: The bound the part was read with (the replay uses it too).
        more: The part stopped at the bound: runs are left for the next part.
        attempted: Ids of the runs this part tried to read.
    """

    uri: str
    location: str
    can_list: bool
    answers: dict[str, Answer | Failure]
    skip: frozenset[str] = frozenset()
    limit: int | None = None
    more: bool = False
    attempted: list[str] = field(default_factory=list)


class RecordingSource:
    """An :class:`OpenmlSource` that keeps every answer (and error) of the source it wraps."""

    def __init__(self, inner: OpenmlSource) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.location = inner.location
        self.can_list = inner.can_list
        self.answers: dict[str, Answer | Failure] = {}
        self.failed = False

    def get(self, call: str, validate: Validator | None = None) -> Answer:
        try:
            answer = self.inner.get(call, validate)
        except (SourceUnavailableError, CollectorError, DataError) as exc:
            self.answers[call] = Failure(type(exc).__name__, str(exc))
            self.failed = not isinstance(exc, DataError)  # a DataError is tolerated
            raise
        self.answers[call] = answer
        return answer

    def close(self) -> None:
        self.inner.close()


class ReplaySource:
    """An :class:`OpenmlSource` answering from an :class:`OpenmlRead`; a call it does not
    hold goes to ``fallback()`` (opened on first need)."""

    def __init__(self, read: OpenmlRead, fallback: Any) -> None:
        self.read = read
        self.uri = read.uri
        self.location = read.location
        self.can_list = read.can_list
        self._fallback = fallback
        self._live: OpenmlSource | None = None

    def get(self, call: str, validate: Validator | None = None) -> Answer:
        answer = self.read.answers.get(call)
        if isinstance(answer, Failure):
            answer.raise_again()
        if isinstance(answer, str | NoResult):
            return answer
        if self._live is None:
            log.info("%s: %s was not read on the worker; asking the source", self.uri, call)
            self._live = self._fallback()
        assert self._live is not None
        return self._live.get(call, validate)

    def close(self) -> None:
        if self._live is not None:
            self._live.close()


__all__ = [
    "Failure",
    "OpenmlInputs",
    "OpenmlRead",
    "RecordingSource",
    "ReplaySource",
    "StoredState",
]
