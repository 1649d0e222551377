"""Meta-learner: trained models (LightGBM text and JSON files) kept in the trace store.

Revision ID: 0400_metalearner
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0400_metalearner"
down_revision = None
branch_labels = ("metalearner",)
depends_on = "0001_core"

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "metalearner_models",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_tasks", sa.Integer(), nullable=False),
        sa.Column("n_configurations", sa.Integer(), nullable=False),
        sa.Column("n_scores", sa.Integer(), nullable=False),
        sa.Column("summary", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metalearner_models")),
    )
    with op.batch_alter_table("metalearner_models", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metalearner_models_kind_created", ["kind", "created_at"], unique=False
        )
    op.create_table(
        "metalearner_model_files",
        sa.Column("model_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["metalearner_models.id"],
            name=op.f("fk_metalearner_model_files_model_id_metalearner_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "name", name=op.f("pk_metalearner_model_files")),
    )


def downgrade() -> None:
    op.drop_table("metalearner_model_files")
    with op.batch_alter_table("metalearner_models", schema=None) as batch_op:
        batch_op.drop_index("ix_metalearner_models_kind_created")
    op.drop_table("metalearner_models")
