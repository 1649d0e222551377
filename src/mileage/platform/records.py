"""The base of the typed read models: frozen rows that render themselves as JSON-ready dicts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Self


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Record:
    """A read model: one stored row (or a summary of several) as a frozen dataclass.

    Callers read attributes, so a renamed field is a type error instead of a ``KeyError`` at
    run time; :meth:`to_dict` gives the JSON shape the CLI prints.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Point(Record):
        ...     x: int
        ...     y: int
        >>> Point.from_row({"x": 1, "y": 2, "ignored": 3}).to_dict()
        {'x': 1, 'y': 2}
    """

    @classmethod
    def from_row(cls, row: Any, **extra: Any) -> Self:
        """Build from a SQLAlchemy row or a mapping; keys that are not fields are ignored.

        Args:
            row: A ``Row`` (its ``_mapping`` is read) or a mapping.
            **extra: Values that override or complete the row's.
        """
        data: dict[str, Any] = dict(row._mapping if hasattr(row, "_mapping") else row)
        data.update(extra)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (nested records as dicts, tuples as lists), in field order."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def field_names(record: type[Record]) -> list[str]:
    """The field names of a record class, in order (to compare with a table's columns)."""
    return [f.name for f in fields(record)]


__all__ = ["Record", "field_names"]
