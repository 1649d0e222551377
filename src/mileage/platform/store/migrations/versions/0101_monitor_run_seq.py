"""Monitors: exactly one check per (monitor, batch), held by a unique key on the run's number.

Every run of a batch carries its number (``seq``: 1 for the first check, 2 for the next run of
the same batch...). The number is the one the process planned from what it read, so two
``monitor run`` processes (or daemons) that planned the same check of the same batch insert the
same key and the store keeps one of them. Runs stored before this revision are numbered in the
order they were stored.

Revision ID: 0101_monitor_run_seq
Revises: 0100_monitors
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_monitor_run_seq"
down_revision = "0100_monitors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("monitor_runs", sa.Column("seq", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE monitor_runs SET seq = (SELECT COUNT(*) FROM monitor_runs AS earlier "
        "WHERE earlier.monitor_id = monitor_runs.monitor_id "
        "AND earlier.batch_id = monitor_runs.batch_id AND earlier.id <= monitor_runs.id)"
    )
    op.create_index(
        "uq_monitor_runs_monitor_batch_seq",
        "monitor_runs",
        ["monitor_id", "batch_id", "seq"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_monitor_runs_monitor_batch_seq", table_name="monitor_runs")
    op.drop_column("monitor_runs", "seq")
