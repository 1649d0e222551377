"""Tables of the meta-learner: trained models, kept in the trace store.

A model lives in the same database as the traces it was trained on, so every daemon
replica and every ``mileage warmstart`` sees the same one. It is stored as text files
(LightGBM text models and JSON, never pickles), one row per file.

Migrated by the ``metalearner`` Alembic branch (``0400_metalearner``).
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from mileage.platform.store.schema._core import Id, Json, Timestamp, metadata

metalearner_models = Table(
    "metalearner_models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("n_tasks", Integer, nullable=False),
    Column("n_configurations", Integer, nullable=False),
    Column("n_scores", Integer, nullable=False),
    Column("summary", Json, nullable=False),
    Index("ix_metalearner_models_kind_created", "kind", "created_at"),
)

metalearner_model_files = Table(
    "metalearner_model_files",
    metadata,
    Column(
        "model_id",
        Id,
        ForeignKey("metalearner_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(256), primary_key=True),
    Column("content", Text, nullable=False),
)

#: Tables created by the ``metalearner`` migration branch, in dependency order.
METALEARNER_TABLES = (metalearner_models, metalearner_model_files)
