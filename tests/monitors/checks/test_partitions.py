"""Partition summaries stay small and merge to the same result however a batch is cut.

Data: synthetic (numpy draws), small enough that every test runs in well under a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.monitors.checks import _partitions as parts
from mileage.monitors.checks._partitions import (
    DRAW,
    PartitionSummary,
    draw_keys,
    merge,
    merge_all,
    sample_threshold,
    summarize,
)


@pytest.mark.parametrize("rows, k", [(50_000, 1_000), (50_000, 7), (3_001, 3_000)])
def test_the_threshold_is_the_largest_key_of_the_k_smallest(rows: int, k: int) -> None:
    keys = draw_keys(0, rows, seed=5)
    expected = float(np.sort(keys)[k - 1])
    assert sample_threshold(rows, k, 5, chunk=4_096) == expected
    assert int((keys <= expected).sum()) == k


def test_a_batch_no_larger_than_the_sample_keeps_every_row() -> None:
    assert sample_threshold(900, 1_000, 0) == 1.0
    assert sample_threshold(1_000, 1_000, 0) == 1.0


def test_parts_send_their_share_of_the_sample_and_merge_to_the_k_smallest() -> None:
    rows, k, seed, size = 40_000, 2_000, 3, 5_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "y": rng.integers(0, 9, rows)})
    threshold = sample_threshold(rows, k, seed)
    summaries = [
        summarize(
            frame.iloc[s : s + size].reset_index(drop=True),
            [],
            ["x", "y"],
            start=s,
            sample_rows=k,
            seed=seed,
            threshold=threshold,
        )
        for s in range(0, rows, size)
    ]
    # each part holds about k * size / rows rows, not k
    assert all(s.sample is not None and len(s.sample) < k * size / rows * 1.5 for s in summaries)
    merged = merge_all(summaries, sample_rows=k)
    assert merged.sample is not None
    whole = frame.assign(**{DRAW: draw_keys(0, rows, seed)}).nsmallest(k, DRAW)
    assert sorted(merged.sample["x"]) == sorted(whole["x"])


def test_capped_distinct_numbers_merge_in_any_order_to_the_smallest(monkeypatch) -> None:
    monkeypatch.setattr(parts, "DISTINCT_CAP", 50)
    rng = np.random.default_rng(1)
    sets = [set(rng.normal(size=80).tolist()) for _ in range(4)]
    pieces = [PartitionSummary(rows=80, distinct={"x": s}) for s in sets]
    left = merge(merge(merge(pieces[0], pieces[1], sample_rows=0), pieces[2], sample_rows=0),
                 pieces[3], sample_rows=0)  # fmt: skip
    right = merge(pieces[0], merge(pieces[1], merge(pieces[2], pieces[3], sample_rows=0),
                                   sample_rows=0), sample_rows=0)  # fmt: skip
    everything = sorted(set().union(*sets))
    assert left.distinct["x"] == right.distinct["x"] == set(everything[:50])
    labels = [PartitionSummary(rows=1, distinct={"c": {f"v{i}" for i in range(j, j + 40)}})
              for j in (0, 30)]  # fmt: skip
    assert merge(*labels, sample_rows=0).distinct["c"] == set(
        sorted({f"v{i}" for i in range(70)})[:50]
    )
