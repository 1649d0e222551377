"""Catalog tables: what OpenML and public meta-data add beside runs.

* ``flows``: OpenML flows (learners and pipelines as published), with their components
  and default parameter values as a JSON tree. A flow's components become the operators
  of the pipelines of the runs that use it.
* ``source_configurations``: a source's own name for a configuration (an OpenML setup id,
  TabRepo's ``LightGBM_r12``, a FLAML portfolio entry) mapped to the shared
  ``configurations`` row, so the same configuration from two sources is one row while each
  source keeps its ids.
* ``portfolio_members``: ordered configuration portfolios (FLAML zero-shot, auto-sklearn
  2.0), the baselines a warm start must beat.

Migrated by the ``catalog`` Alembic branch (``0300_catalog``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mileage.platform.store.schema._core import Id, Json, metadata

flows = Table(
    "flows",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("version", String(64)),
    Column("external_version", String(1024)),
    Column("uploader", String(256)),
    Column("upload_ms", BigInteger),
    Column("description", Text),
    Column("structure", Json, nullable=False),
    UniqueConstraint("source_id", "external_id"),
)

source_configurations = Table(
    "source_configurations",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("external_id", String(256), primary_key=True),
    Column("name", String(512)),
    Column("flow_external_id", String(256)),
    Column(
        "configuration_id",
        Id,
        ForeignKey("configurations.id", ondelete="CASCADE"),
        nullable=False,
    ),
)

portfolio_members = Table(
    "portfolio_members",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("portfolio", String(256), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column(
        "configuration_id",
        Id,
        ForeignKey("configurations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("meta", Json, nullable=False),
)

#: Tables created by the ``catalog`` migration branch, in dependency order.
CATALOG_TABLES = (flows, source_configurations, portfolio_members)
