"""The warm-start ranker as a scikit-learn estimator: contract, ranking, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from mileage.metalearner.warmstart._ranker import (
    ModelFormatError,
    WarmStartRanker,
    greedy_portfolio,
    normalized_regret,
)


def test_passes_scikit_learn_estimator_checks() -> None:
    results = check_estimator(WarmStartRanker(n_estimators=5, surrogate_estimators=5), on_fail=None)
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 35


def test_greedy_portfolio_covers_tasks_before_repeating_strengths() -> None:
    # config 0 is best on average; 1 and 2 are each perfect on half of the tasks
    regret = np.array([[0.3, 0.0, 1.0], [0.3, 0.0, 1.0], [0.3, 1.0, 0.0], [0.3, 1.0, 0.0]])
    order, expected = greedy_portfolio(regret, np.ones(4))
    assert order[0] == 0  # 0.3 on average beats 0.5
    assert set(order[1:]) == {1, 2}
    assert expected.tolist() == pytest.approx([0.3, 0.15, 0.0])
    # weights move the first pick to what the heavy tasks prefer
    order, _ = greedy_portfolio(regret, np.array([10.0, 10.0, 0.1, 0.1]))
    assert order[0] == 1


def test_normalized_regret_per_task_ignores_missing() -> None:
    errors = np.array([[2.0, 4.0, np.nan], [5.0, 5.0, 5.0]])
    regret = normalized_regret(errors)
    assert regret[0, :2].tolist() == [0.0, 1.0] and np.isnan(regret[0, 2])
    assert regret[1].tolist() == [0.0, 0.0, 0.0]


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic tasks: the best configuration depends on the first meta-feature."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(60, 3))
    C = np.linspace(-1, 1, 12)[:, None]
    errors = (X[:, [0]] - C.T) ** 2 + rng.normal(scale=0.01, size=(60, 12))
    return X, errors, C


def test_ranks_by_what_similar_tasks_preferred() -> None:
    X, errors, C = _synthetic()
    model = WarmStartRanker(bandwidth="auto").fit(X, errors, configurations=C)
    assert str(model.bandwidth_) in model.inner_regret_
    assert set(model.inner_regret_) == {"0.1", "0.3", "1.0", "3.0"}
    for x0, best in ((-0.95, 0), (0.95, 11)):
        order, expected = model.recommend(np.array([[x0, 0.0, 0.0]]), k=3)
        assert abs(order[0, 0] - best) <= 1, (x0, order)
        assert np.all(np.diff(expected[0]) <= 1e-12)


def test_unevaluated_entries_and_new_candidates_use_the_surrogate() -> None:
    X, errors, C = _synthetic(1)
    holes = errors.copy()
    holes[::2, 5] = np.nan
    model = WarmStartRanker().fit(X, holes, configurations=C)
    assert not model.observed_[0, 5] and model.observed_[1, 5]
    assert 0.0 <= model.regret_[0, 5] <= 1.0
    same = model.candidate_regret(C[[3]])
    assert np.array_equal(same[:, 0], model.regret_[:, 3])
    new = model.candidate_regret(np.array([[0.05]]))  # between columns 5 and 6
    assert new.shape == (60, 1) and np.all((new >= 0) & (new <= 1))
    order, _ = model.recommend(np.array([[0.0, 0, 0]]), candidates=np.array([[-1.0], [0.0], [1.0]]))
    assert order[0, 0] == 1
    plain = WarmStartRanker().fit(X, errors)
    with pytest.raises(ValueError, match="without configuration features"):
        plain.candidate_regret(C[:1])


def test_fit_rejects_tasks_without_any_evaluation() -> None:
    X, errors, _ = _synthetic()
    errors[4] = np.nan
    with pytest.raises(ValueError, match="evaluated no configuration"):
        WarmStartRanker().fit(X, errors)
    with pytest.raises(ValueError, match="pass one row of errors per task"):
        WarmStartRanker().fit(X[:10], errors[:11])


def test_saved_as_text_and_reloaded_identically(tmp_path: Path) -> None:
    X, errors, C = _synthetic(2)
    model = WarmStartRanker().fit(X, errors, configurations=C)
    paths = model.save(tmp_path / "model", {"trained_on": "synthetic"})
    names = sorted(p.name for p in paths)
    assert names == [
        "embedding_0.txt",
        "embedding_1.txt",
        "embedding_2.txt",
        "surrogate.txt",
        "warmstart.json",
    ]
    for p in paths:  # text only: LightGBM's text format and JSON, nothing pickled
        text = p.read_text(encoding="utf-8")
        assert text.startswith("tree") if p.suffix == ".txt" else json.loads(text)["format"]
    loaded = WarmStartRanker.load(tmp_path / "model")
    query = np.array([[0.3, -0.2, 0.9], [-0.7, 0.1, 0.0]])
    a, ea = model.recommend(query)
    b, eb = loaded.recommend(query)
    assert np.array_equal(a, b) and np.allclose(ea, eb)
    assert np.allclose(
        model.candidate_regret(np.array([[0.33]])), loaded.candidate_regret(np.array([[0.33]]))
    )
    assert loaded.metadata_ == {"trained_on": "synthetic"}
    with pytest.raises(ModelFormatError, match="holds no warm-start model"):
        WarmStartRanker.load(tmp_path)
    files = model.to_files()
    files["warmstart.json"] = files["warmstart.json"].replace("mileage.warmstart/1", "other/9")
    with pytest.raises(ModelFormatError, match="retrain"):
        WarmStartRanker.from_files(files)


def test_deterministic_across_fits() -> None:
    X, errors, C = _synthetic(3)
    a = WarmStartRanker().fit(X, errors, configurations=C).recommend(X[:5])
    b = WarmStartRanker().fit(X, errors, configurations=C).recommend(X[:5])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
