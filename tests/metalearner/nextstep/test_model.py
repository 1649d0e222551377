"""The next-change model: scikit-learn contract, pickle-free files, learning and adapting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mileage.metalearner import ModelFileError
from mileage.metalearner.nextstep import (
    Chain,
    ChangeClassifier,
    MajorityBaseline,
    NextChangePredictor,
    Step,
    evaluate,
    generate_chains,
)


@parametrize_with_checks([ChangeClassifier(n_estimators=10, min_child_samples=1)])
def test_change_classifier_follows_the_estimator_contract(estimator, check) -> None:
    check(estimator)


def test_predictor_learns_a_sticky_user_better_than_majority() -> None:
    # A person who keeps changing the same operator for a while, then moves on.
    rng = np.random.default_rng(0)
    ops = ["a", "b", "c", "model"]
    chains = []
    for i in range(24):
        steps = [Step(units=tuple(ops))]
        current = "model"
        for _ in range(20):
            if rng.random() > 0.8:
                current = ops[int(rng.integers(4))]
            steps.append(Step(units=tuple(ops), changed=frozenset([current])))
        chains.append(Chain(f"c{i}", f"u{i % 6}", steps))
    ours = evaluate(NextChangePredictor, chains, folds=4)
    majority = evaluate(MajorityBaseline, chains, folds=4)
    assert ours.top1 > majority.top1 + 0.2
    assert ours.top1 > 0.7


def test_save_and_load_without_pickle(tmp_path: Path) -> None:
    chains = generate_chains(12, 12, seed=3)
    model = NextChangePredictor(complexity="small").fit(chains)
    folder = model.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.txt", "nextstep.json"]
    assert (folder / "model.txt").read_text().startswith("tree")
    loaded = NextChangePredictor.load(folder)
    assert loaded.get_params() == model.get_params()
    for chain in chains[:3]:
        assert loaded.predict_proba_next(chain) == pytest.approx(model.predict_proba_next(chain))
    (folder / "nextstep.json").write_text('{"format_version": 99}')
    with pytest.raises(ModelFileError, match="incompatible"):
        NextChangePredictor.load(folder)
    with pytest.raises(ModelFileError, match="mileage nextstep train"):
        NextChangePredictor.load(tmp_path / "missing")


def test_fit_needs_chains_with_links() -> None:
    with pytest.raises(ValueError, match="at least one chain with two or more runs"):
        NextChangePredictor().fit([Chain("k", None, [Step(units=("a",))])])
    with pytest.raises(ValueError, match="complexity"):
        NextChangePredictor(complexity="huge").fit(generate_chains(3, 5))


def test_new_users_history_changes_the_prediction() -> None:
    chains = generate_chains(30, 20, seed=1)
    model = NextChangePredictor(complexity="small").fit(chains)
    units = ("split", "impute", "scale", "model")
    fresh = Chain("new", "new", [Step(units=units)])
    tuned = Chain(
        "new",
        "new",
        [Step(units=units)] + [Step(units=units, changed=frozenset({"scale"})) for _ in range(6)],
    )
    assert model.predict_proba_next(tuned)["scale"] > model.predict_proba_next(fresh)["scale"] + 0.2
    ranking = model.rank(tuned)
    assert ranking[0][0] == "scale"
