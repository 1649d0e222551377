"""User-declared data slices: ``"north: region == north"``, ``"young: age < 30 and plan in
[basic, free]"``, or every value of a column (``--slice-column region``).

Slices are parsed into plain conditions and evaluated with vectorised pandas comparisons; no
expression is evaluated as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

_OPS = ("==", "!=", "<=", ">=", "<", ">", " in ")
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(==|!=|<=|>=|<|>|\bin\b)\s*(.+?)\s*$")
MAX_VALUES_PER_COLUMN = 20


def _literal(text: str) -> Any:
    text = text.strip().strip("'\"")
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class Slice:
    """A named subset of rows: all conditions must hold."""

    name: str
    conditions: tuple[tuple[str, str, Any], ...]

    @classmethod
    def parse(cls, text: str) -> Slice:
        """Parse ``"NAME: COLUMN OP VALUE [and COLUMN OP VALUE ...]"``.

        Raises:
            ConfigError: The text does not follow that form.
        """
        name, sep, body = text.partition(":")
        if not sep or not name.strip() or not body.strip():
            raise ConfigError(
                f"slice {text!r} must look like 'NAME: COLUMN OP VALUE [and ...]', e.g. "
                "'north: region == north' or 'young: age < 30'."
            )
        conditions = []
        for part in re.split(r"\s+and\s+", body.strip()):
            m = _CONDITION.match(part)
            if not m:
                raise ConfigError(
                    f"slice {name.strip()!r}: condition {part!r} must be 'COLUMN OP VALUE' with "
                    "OP one of ==, !=, <, <=, >, >=, in (e.g. 'plan in [basic, free]')."
                )
            column, op, raw = m.groups()
            if op == "in":
                items = raw.strip().lstrip("[(").rstrip("])")
                value: Any = tuple(_literal(v) for v in items.split(",") if v.strip())
            else:
                value = _literal(raw)
            conditions.append((column, op, value))
        return cls(name.strip(), tuple(conditions))

    @property
    def columns(self) -> set[str]:
        return {c for c, _, _ in self.conditions}

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean mask of the rows in the slice (False where a column is missing)."""
        import pandas as pd

        mask = pd.Series(True, index=frame.index)
        for column, op, value in self.conditions:
            if column not in frame.columns:
                return pd.Series(False, index=frame.index)
            col = frame[column]
            if op == "in":
                values = set(value) | {str(v) for v in value}
                mask &= col.isin(values) | col.astype(str).isin({str(v) for v in value})
            elif op == "==":
                mask &= (col == value) | (col.astype(str) == str(value))
            elif op == "!=":
                mask &= (col != value) & (col.astype(str) != str(value))
            else:
                numeric = pd.to_numeric(col, errors="coerce")
                mask &= {
                    "<": numeric < value,
                    "<=": numeric <= value,
                    ">": numeric > value,
                    ">=": numeric >= value,
                }[op].fillna(False)
        return mask

    def to_text(self) -> str:
        parts = []
        for column, op, value in self.conditions:
            shown = "[" + ", ".join(map(str, value)) + "]" if op == "in" else str(value)
            parts.append(f"{column} {op} {shown}")
        return f"{self.name}: " + " and ".join(parts)


def column_slices(frame: pd.DataFrame, column: str) -> list[Slice]:
    """One slice per value of ``column`` (the most frequent values, at most 20)."""
    if column not in frame.columns:
        raise ConfigError(
            f"slice column {column!r} is not in the reference data; columns: "
            f"{', '.join(map(str, frame.columns[:20]))}."
        )
    values = frame[column].dropna().value_counts().index[:MAX_VALUES_PER_COLUMN]
    return [
        Slice(f"{column}={v}", ((column, "==", v if not hasattr(v, "item") else v.item()),))
        for v in values
    ]


def resolve_slices(
    texts: list[str], slice_columns: list[str], reference: pd.DataFrame | None
) -> list[Slice]:
    """Parse declared slices and expand slice columns against the reference."""
    slices = [Slice.parse(t) for t in texts]
    for column in slice_columns:
        if reference is None:
            raise ConfigError(f"slice column {column!r} needs the reference data to list values.")
        slices.extend(column_slices(reference, column))
    names = [s.name for s in slices]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"slice names must be unique; repeated: {', '.join(sorted(dupes))}.")
    return slices


def check_slice_columns(texts: list[str], columns: list[Any]) -> None:
    """Every column a declared slice names is one of ``columns`` (the reference's, and the
    prediction column).

    Raises:
        ConfigError: A slice names a missing column (it would never match a row, silently).
    """
    for text in texts:
        piece = Slice.parse(text)
        for column in sorted(piece.columns):
            if column not in columns:
                known = ", ".join(map(str, columns[:20]))
                raise ConfigError(
                    f"slice {piece.name!r} names column {column!r}, which the reference does "
                    f"not have (columns: {known}); fix the --slice condition."
                )
