"""Workflows: DAGs of named operators with exact output fingerprints.

scikit-learn ``Pipeline`` and ``ColumnTransformer`` steps map onto operators directly
(:func:`from_sklearn`); plain Python functions become operators with
:meth:`Operator.function`.
"""

from __future__ import annotations

from mileage.metalearner.workflow._model import (
    ROLES,
    Operator,
    Workflow,
    data_fingerprint,
    describe,
    hash_value,
    qualified_name,
    source_version,
)
from mileage.metalearner.workflow._sklearn import SOURCES, from_sklearn

__all__ = [
    "ROLES",
    "SOURCES",
    "Operator",
    "Workflow",
    "data_fingerprint",
    "describe",
    "from_sklearn",
    "hash_value",
    "qualified_name",
    "source_version",
]
