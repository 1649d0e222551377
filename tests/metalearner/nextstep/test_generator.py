"""The chain generator: reproducible, and its change-type mix does what it says."""

from __future__ import annotations

from collections import Counter

import pytest

from mileage.metalearner.nextstep import ChangeMix, SimulatedUser, generate_chains


def test_generation_is_reproducible_and_synthetic() -> None:
    a = generate_chains(5, 10, seed=2)
    b = generate_chains(5, 10, seed=2)
    assert [[s.changed for s in c.steps] for c in a] == [[s.changed for s in c.steps] for c in b]
    assert all(c.synthetic and c.origin == "synthetic" for c in a)
    assert a != generate_chains(5, 10, seed=3)


@pytest.mark.parametrize(
    ("mix", "dominant"),
    [(ChangeMix(0.9, 0.05, 0.0, 0.05), "split"), (ChangeMix(0.0, 0.0, 0.1, 0.9), "model")],
)
def test_mix_controls_what_changes(mix: ChangeMix, dominant: str) -> None:
    counts: Counter[str] = Counter()
    for chain in generate_chains(20, 30, mix=mix, seed=0):
        for step in chain.steps[1:]:
            counts.update(step.changed)
    assert counts.most_common(1)[0][0] == dominant


def test_bad_mix_and_user_behaviour() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        ChangeMix(0, 0, 0, 0).shares()
    user = SimulatedUser(
        {"split": "data", "scale": "preprocessing", "model": "model"}, seed=0, stickiness=1.0
    )
    first = user.next_change(None)
    assert all(user.next_change(True).operators[0] == first.operators[0] for _ in range(5))
    assert ChangeMix().label() == "5/30/10/55"
