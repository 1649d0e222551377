"""Baselines and the evaluation split: whole chains go to one side only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from mileage.metalearner.nextstep import (
    Chain,
    MajorityBaseline,
    MarkovBaseline,
    RepeatLastBaseline,
    Step,
    evaluate,
)


def _chain(key: str, changes: list[str]) -> Chain:
    units = ("a", "b", "c")
    return Chain(
        key, key, [Step(units=units)] + [Step(units=units, changed=frozenset(c)) for c in changes]
    )


def test_baselines() -> None:
    train = [_chain("t", ["a", "a", "b", "c", "a"])]  # a then a, a then b, b then c, c then a
    probe = _chain("p", ["b"])
    assert (
        max(MajorityBaseline().fit(train).predict_proba_next(probe).items(), key=lambda kv: kv[1])[
            0
        ]
        == "a"
    )
    assert (
        max(
            RepeatLastBaseline().fit(train).predict_proba_next(probe).items(), key=lambda kv: kv[1]
        )[0]
        == "b"
    )
    assert (
        max(MarkovBaseline().fit(train).predict_proba_next(probe).items(), key=lambda kv: kv[1])[0]
        == "c"
    )


class _Spy:
    seen: ClassVar[list[set[str]]] = []

    def fit(self, X: Sequence[Chain], y: None = None) -> _Spy:
        _Spy.seen.append({c.key for c in X})
        return self

    def predict_proba_next(
        self, chain: Chain, *, context: Sequence[Chain] = ()
    ) -> dict[str, float]:
        assert chain.key not in _Spy.seen[-1], "a chain is on both sides of a split"
        return {u: 0.0 for u in chain.steps[-1].units}


def test_evaluation_splits_by_chain() -> None:
    chains = [_chain(f"k{i}", ["a", "b", "a"]) for i in range(7)]
    result = evaluate(_Spy, chains, folds=3)
    assert len(_Spy.seen) == 3
    assert result.steps == 21
    assert result.top1 == 2 / 3  # all ties, broken by name: always "a" (a, b, a change)
