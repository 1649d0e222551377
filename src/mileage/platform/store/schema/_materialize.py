"""Tables of the executor and the materialization planner.

``operator_executions`` holds one row per operator of each run executed by Mileage's
executor: its output fingerprint, whether it was computed, loaded from the intermediate
cache or not needed, and the measured times and sizes. The next-change model reads the
operators' roles from it; people read it to see what a cache saved.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table

from mileage.platform.store.schema._core import Id, metadata

operator_executions = Table(
    "operator_executions",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("operator", String(512), nullable=False),
    Column("role", String(32), nullable=False),
    Column("output_fingerprint", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("compute_seconds", Float),
    Column("load_seconds", Float),
    Column("write_seconds", Float),
    Column("output_bytes", BigInteger),
    Column("materialized", Boolean, nullable=False),
    Index("ix_operator_executions_output", "output_fingerprint"),
)

#: Tables created by the ``materialize`` migration branch.
MATERIALIZE_TABLES = (operator_executions,)
