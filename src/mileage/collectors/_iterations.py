"""Iteration chains: consecutive runs of one user on one experiment (or task).

Each link records which params and operators changed and how much of the previous run was
reused. Chains are rebuilt when a run in them is added, changed or removed; the collector
marks that by deleting the affected ``iterations`` rows in the transaction that writes the
runs, so a killed pass leaves its chains visibly dirty and the next pass repairs them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select

from mileage.platform.records import Record
from mileage.platform.store import schema as t

#: What the seed papers report, quoted beside the measured share.
SEED_REFERENCE = "about 80% of OpenML iterations reuse over half of the previous workflow"


@dataclass(frozen=True)
class SourceIterations(Record):
    """Iteration chains of one source (a row of :func:`stats`).

    Attributes:
        kind: Collector kind of the source.
        source: The source's URI.
        chains: Iteration chains.
        links: Runs with a previous run in their chain.
        measured_links: Links whose reuse could be measured.
        links_reusing_over_half: Measured links reusing more than half of the previous run.
        share_reusing_over_half: Their share of the measured links (None when none).
        mean_reuse_ratio: Mean reuse over the measured links (None when none).
    """

    kind: str
    source: str
    chains: int
    links: int
    measured_links: int
    links_reusing_over_half: int
    share_reusing_over_half: float | None
    mean_reuse_ratio: float | None


@dataclass(frozen=True)
class IterationStats(Record):
    """Iteration chains over every source (:func:`stats`, ``mileage iterations stats``).

    Attributes:
        chains: Iteration chains.
        links: Runs with a previous run in their chain.
        measured_links: Links whose reuse could be measured.
        share_reusing_over_half: Share of measured links reusing more than half of the
            previous run (None when none was measured).
        seed_reference: What the seed papers report, for comparison.
        sources: The same per source.
    """

    chains: int
    links: int
    measured_links: int
    share_reusing_over_half: float | None
    seed_reference: str
    sources: tuple[SourceIterations, ...]


_CHUNK = 500


def chain_key(source_id: int, group: Sequence[Any]) -> str:
    """Stable identifier of a chain: source plus grouping values."""
    return "/".join([str(source_id), *("" if g is None else str(g) for g in group)])


def invalidate(conn: Connection, run_ids: Sequence[int]) -> None:
    """Drop the links that involve ``run_ids`` so their chains are rebuilt."""
    for i in range(0, len(run_ids), _CHUNK):
        chunk = list(run_ids[i : i + _CHUNK])
        conn.execute(
            delete(t.iterations).where(
                or_(t.iterations.c.run_id.in_(chunk), t.iterations.c.previous_run_id.in_(chunk))
            )
        )


def dirty_groups(conn: Connection, source_id: int, group_by: Sequence[str]) -> set[tuple[Any, ...]]:
    """Groups holding an active run without a link: new, changed, or invalidated."""
    cols = [t.runs.c[c] for c in group_by]
    rows = conn.execute(
        select(*cols)
        .select_from(t.runs.outerjoin(t.iterations, t.iterations.c.run_id == t.runs.c.id))
        .where(
            t.runs.c.source_id == source_id,
            t.runs.c.lifecycle_stage == "active",
            t.iterations.c.run_id.is_(None),
        )
        .distinct()
    )
    return {tuple(r) for r in rows}


def rebuild(
    conn: Connection,
    source_id: int,
    group_by: Sequence[str],
    groups: set[tuple[Any, ...]],
    *,
    order_by: Sequence[Any] | None = None,
) -> int:
    """Recompute the links of the given chains; returns the number of chains rebuilt.

    Args:
        conn: Connection inside a transaction.
        source_id: The source whose runs form the chains.
        group_by: ``runs`` columns that identify a chain.
        groups: Values of ``group_by`` of the chains to rebuild.
        order_by: SQL order of a chain's runs; default start time, then external id.
    """
    order = list(order_by) if order_by is not None else [t.runs.c.start_ms, t.runs.c.external_id]
    for group in sorted(groups, key=lambda g: tuple("" if v is None else str(v) for v in g)):
        cond = [t.runs.c.source_id == source_id, t.runs.c.lifecycle_stage == "active"]
        for col, value in zip(group_by, group):
            cond.append(t.runs.c[col].is_(None) if value is None else t.runs.c[col] == value)
        members = conn.execute(
            select(t.runs.c.id, t.runs.c.pipeline_id).where(and_(*cond)).order_by(*order)
        ).all()
        ids = [m.id for m in members]
        params = _params(conn, ids)
        operators = _operators(conn, {m.pipeline_id for m in members if m.pipeline_id is not None})
        key = chain_key(source_id, group)
        conn.execute(delete(t.iterations).where(t.iterations.c.chain_key == key))
        for i in range(0, len(ids), _CHUNK):
            conn.execute(delete(t.iterations).where(t.iterations.c.run_id.in_(ids[i : i + _CHUNK])))
        rows = []
        for pos, member in enumerate(members):
            rows.append(
                _link(key, pos, member, members[pos - 1] if pos else None, params, operators)
            )
        if rows:
            conn.execute(insert(t.iterations), rows)
    return len(groups)


def _params(conn: Connection, ids: list[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for i in range(0, len(ids), _CHUNK):
        for run_id, key, value in conn.execute(
            select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
                t.params.c.run_id.in_(ids[i : i + _CHUNK])
            )
        ):
            out[run_id][key] = value
    return out


def _operators(conn: Connection, pipeline_ids: set[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = defaultdict(dict)
    ids = sorted(pipeline_ids)
    for i in range(0, len(ids), _CHUNK):
        for pid, name, fp in conn.execute(
            select(
                t.pipeline_operators.c.pipeline_id,
                t.pipeline_operators.c.name,
                t.pipeline_operators.c.fingerprint,
            ).where(t.pipeline_operators.c.pipeline_id.in_(ids[i : i + _CHUNK]))
        ):
            out[pid][name] = fp
    return out


def _diff(prev: dict[str, str], cur: dict[str, str]) -> tuple[list[str], int]:
    changed = sorted(k for k in prev.keys() | cur.keys() if prev.get(k) != cur.get(k))
    reused = sum(1 for k, v in prev.items() if cur.get(k) == v)
    return changed, reused


def _link(
    key: str,
    pos: int,
    member: Any,
    previous: Any,
    params: dict[int, dict[str, str]],
    operators: dict[int, dict[str, str]],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": member.id,
        "previous_run_id": None,
        "chain_key": key,
        "position": pos,
        "unit": "params",
        "n_previous_units": 0,
        "n_reused_units": 0,
        "reuse_ratio": None,
        "changed_params": [],
        "changed_operators": [],
    }
    if previous is None:
        return row
    changed_params, reused_params = _diff(params.get(previous.id, {}), params.get(member.id, {}))
    row.update(previous_run_id=previous.id, changed_params=changed_params)
    if member.pipeline_id is not None and previous.pipeline_id is not None:
        prev_ops, cur_ops = (
            operators.get(previous.pipeline_id, {}),
            operators.get(member.pipeline_id, {}),
        )
        changed_ops, reused = _diff(prev_ops, cur_ops)
        row.update(
            unit="operators",
            changed_operators=changed_ops,
            n_previous_units=len(prev_ops),
            n_reused_units=reused,
        )
    else:
        row.update(n_previous_units=len(params.get(previous.id, {})), n_reused_units=reused_params)
    if row["n_previous_units"]:
        row["reuse_ratio"] = row["n_reused_units"] / row["n_previous_units"]
    return row


def stats(conn: Connection, source_ids: Sequence[int] | None = None) -> IterationStats:
    """Chains, links and the share of links reusing more than half of the previous run."""
    it, runs, sources = t.iterations, t.runs, t.sources
    query = (
        select(
            sources.c.kind,
            sources.c.uri,
            func.count(func.distinct(it.c.chain_key)).label("chains"),
            func.count(it.c.previous_run_id).label("links"),
            func.count(it.c.reuse_ratio).label("measured"),
            func.sum(case((it.c.reuse_ratio > 0.5, 1), else_=0)).label("reusing"),
            func.avg(it.c.reuse_ratio).label("mean_reuse"),
        )
        .select_from(
            it.join(runs, runs.c.id == it.c.run_id).join(sources, sources.c.id == runs.c.source_id)
        )
        .group_by(sources.c.kind, sources.c.uri)
        .order_by(sources.c.kind, sources.c.uri)
    )
    if source_ids:
        query = query.where(runs.c.source_id.in_(list(source_ids)))
    per_source = [
        SourceIterations(
            kind=row.kind,
            source=row.uri,
            chains=int(row.chains),
            links=int(row.links),
            measured_links=int(row.measured),
            links_reusing_over_half=int(row.reusing or 0),
            share_reusing_over_half=(int(row.reusing or 0) / row.measured)
            if row.measured
            else None,
            mean_reuse_ratio=float(row.mean_reuse) if row.mean_reuse is not None else None,
        )
        for row in conn.execute(query)
    ]
    measured = sum(s.measured_links for s in per_source)
    reusing = sum(s.links_reusing_over_half for s in per_source)
    return IterationStats(
        chains=sum(s.chains for s in per_source),
        links=sum(s.links for s in per_source),
        measured_links=measured,
        share_reusing_over_half=reusing / measured if measured else None,
        seed_reference=SEED_REFERENCE,
        sources=tuple(per_source),
    )
