"""Tables of the scheduling daemon: one row per job run (claimed before it starts)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from mileage.platform.store.schema._core import Id, Timestamp, metadata

#: One row per (job, scheduled slot). The unique key is the claim: two daemon replicas
#: that both believe they lead cannot run the same slot twice.
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job_id", String(256), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("slot_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("owner", String(256), nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("detail", Text),
    UniqueConstraint("job_id", "slot_ms"),
    Index("ix_job_runs_job_started", "job_id", "started_at"),
)

DAEMON_TABLES = (job_runs,)
