"""scikit-learn pipelines as workflows.

A ``Pipeline`` becomes a chain of operators after a ``split`` operator (train/test split of
the sources ``X`` and ``y``); each ``ColumnTransformer`` becomes one branch of operators per
column group plus a join, so the DAG has the same shape as the estimator. Each transformer
operator fits on the training part and outputs both parts transformed; the final estimator
outputs its test predictions and its ``score``. Intermediates are therefore plain data
(arrays, frames, sparse matrices), which the cache stores without pickle.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mileage.metalearner._errors import WorkflowError
from mileage.metalearner.workflow._model import (
    Operator,
    Workflow,
    describe,
    qualified_name,
    source_version,
)

SOURCES = ("X", "y")


def split_data(
    X: Any, y: Any, *, test_size: float, random_state: int, stratify: bool
) -> dict[str, Any]:
    """Train/test split of ``X`` and ``y`` (the ``split`` operator)."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y if stratify else None
    )
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


def _select(X: Any, columns: Any) -> Any:
    if columns is None:
        return X
    if callable(columns):
        columns = columns(X)
    from sklearn.utils._indexing import _safe_indexing

    return _safe_indexing(X, columns, axis=1)


def fit_transform(
    estimator: Any, columns: Any, previous: dict[str, Any], split: dict[str, Any]
) -> dict[str, Any]:
    """Fit a clone of ``estimator`` on the training part; transform both parts."""
    from sklearn.base import clone

    est = clone(estimator)
    X_train, X_test = _select(previous["X_train"], columns), _select(previous["X_test"], columns)
    if est == "passthrough":
        return {"X_train": X_train, "X_test": X_test}
    return {
        "X_train": est.fit_transform(X_train, split["y_train"]),
        "X_test": est.transform(X_test),
    }


def fit_predict(estimator: Any, previous: dict[str, Any], split: dict[str, Any]) -> dict[str, Any]:
    """Fit a clone of the final estimator; predict and score the test part."""
    from sklearn.base import clone

    est = clone(estimator).fit(previous["X_train"], split["y_train"])
    return {
        "y_pred": est.predict(previous["X_test"]),
        "score": float(est.score(previous["X_test"], split["y_test"])),
    }


def join_columns(sparse_threshold: float, *parts: dict[str, Any]) -> dict[str, Any]:
    """Concatenate branch outputs side by side, as ``ColumnTransformer`` does."""
    import numpy as np
    from scipy import sparse

    def stack(key: str, as_sparse: bool) -> Any:
        blocks = [p[key] for p in parts]
        if as_sparse:
            return sparse.hstack([sparse.csr_matrix(b) for b in blocks]).tocsr()
        return np.hstack([b.toarray() if sparse.issparse(b) else np.asarray(b) for b in blocks])

    train = [p["X_train"] for p in parts]
    as_sparse = False
    if any(sparse.issparse(b) for b in train):
        nnz = sum(b.nnz if sparse.issparse(b) else np.count_nonzero(b) for b in train)
        total = sum(b.shape[0] * b.shape[1] for b in train)
        as_sparse = total > 0 and nnz / total < sparse_threshold
    return {"X_train": stack("X_train", as_sparse), "X_test": stack("X_test", as_sparse)}


def _code_version(estimator: Any, wrapper: Callable[..., Any]) -> str:
    top = type(estimator).__module__.split(".")[0]
    lib = getattr(sys.modules.get(top), "__version__", "?")
    return f"{top}=={lib};{source_version(wrapper)}"


def _params(estimator: Any) -> dict[str, Any]:
    described = describe(estimator.get_params(deep=True))
    assert isinstance(described, dict)
    return described


def _is_pipeline(est: Any) -> bool:
    return type(est).__name__ == "Pipeline" and hasattr(est, "steps")


def _is_column_transformer(est: Any) -> bool:
    return type(est).__name__ == "ColumnTransformer" and hasattr(est, "transformers")


class _Builder:
    def __init__(self, split: str) -> None:
        self.split = split
        self.ops: list[Operator] = []

    def transformer(self, name: str, est: Any, previous: str, columns: Any = None) -> str:
        if _is_pipeline(est):
            return self.pipeline(name, est.steps, previous, columns=columns)
        if _is_column_transformer(est):
            return self.column_transformer(name, est, previous, columns=columns)
        params: dict[str, Any] = {} if est == "passthrough" else _params(est)
        if columns is not None:
            params = {**params, "columns": describe(columns)}
        self.ops.append(
            Operator(
                name=name,
                func=functools.partial(fit_transform, est, columns),
                inputs=(previous, self.split),
                params=params,
                kind="passthrough" if est == "passthrough" else qualified_name(est),
                version=_code_version(est, fit_transform)
                if est != "passthrough"
                else source_version(fit_transform),
                role="preprocessing",
            )
        )
        return name

    def pipeline(
        self, prefix: str, steps: Sequence[tuple[str, Any]], previous: str, columns: Any = None
    ) -> str:
        live = [
            (n, s)
            for n, s in steps
            if s is not None and not (isinstance(s, str) and s == "passthrough")
        ]
        if not live:
            if columns is None:
                return previous
            live = [("passthrough", "passthrough")]
        for i, (step, est) in enumerate(live):
            name = f"{prefix}__{step}" if prefix else step
            cols = columns if i == 0 else None
            previous = self.transformer(name, est, previous, columns=cols)
        return previous

    def column_transformer(self, name: str, ct: Any, previous: str, columns: Any = None) -> str:
        if columns is not None:
            previous = self.transformer(f"{name}__select", "passthrough", previous, columns)
        branches: list[str] = []
        for branch, est, cols in ct.transformers:
            if isinstance(est, str) and est == "drop":
                continue
            branches.append(self.transformer(f"{name}__{branch}", est, previous, columns=cols))
        if ct.remainder != "drop":
            raise WorkflowError(
                f"ColumnTransformer {name!r}: remainder={ct.remainder!r} is not supported by the "
                "workflow mapping; list the remaining columns in an explicit 'passthrough' "
                "transformer instead."
            )
        if not branches:
            raise WorkflowError(f"ColumnTransformer {name!r} drops every column.")
        self.ops.append(
            Operator(
                name=name,
                func=functools.partial(join_columns, float(ct.sparse_threshold)),
                inputs=tuple(branches),
                params={"sparse_threshold": float(ct.sparse_threshold)},
                kind=qualified_name(join_columns),
                version=source_version(join_columns),
                role="preprocessing",
            )
        )
        return name


def from_sklearn(
    estimator: Any,
    *,
    name: str = "default",
    test_size: float = 0.25,
    random_state: int = 0,
    stratify: bool | None = None,
) -> Workflow:
    """Map a scikit-learn estimator (usually a ``Pipeline``) onto a workflow.

    The workflow reads sources ``X`` and ``y``, splits them (operator ``split``), runs each
    step as its own operator (``ColumnTransformer`` branches as parallel operators named
    ``<step>__<branch>[__<inner step>]`` plus a join named ``<step>``), and ends with the
    final estimator, whose output holds the test predictions and ``score``.

    Args:
        estimator: A ``Pipeline``, a ``ColumnTransformer`` or any estimator.
        name: Workflow name; keep it stable across iterations so they form one chain.
        test_size: Share of rows held out for the score.
        random_state: Seed of the split.
        stratify: Stratify the split on ``y``; default: when the final step is a classifier.

    Returns:
        The workflow.

    Raises:
        WorkflowError: The estimator uses something the mapping does not cover.

    Example:
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn.linear_model import LogisticRegression
        >>> wf = from_sklearn(make_pipeline(StandardScaler(), LogisticRegression()), name="demo")
        >>> wf.order
        ['split', 'standardscaler', 'logisticregression']
    """
    steps = (
        list(estimator.steps)
        if _is_pipeline(estimator)
        else [(type(estimator).__name__.lower(), estimator)]
    )
    final_name, final = steps[-1]
    has_model = hasattr(final, "predict") and not _is_pipeline(final)
    if stratify is None:
        from sklearn.base import is_classifier

        stratify = bool(has_model and is_classifier(final))
    split = Operator(
        name="split",
        func=functools.partial(
            split_data, test_size=test_size, random_state=random_state, stratify=stratify
        ),
        inputs=SOURCES,
        params={"test_size": test_size, "random_state": random_state, "stratify": stratify},
        kind=qualified_name(split_data),
        version=source_version(split_data),
        role="data",
    )
    builder = _Builder(split.name)
    builder.ops.append(split)
    previous = builder.pipeline("", steps[:-1] if has_model else steps, split.name)
    if has_model:
        builder.ops.append(
            Operator(
                name=final_name,
                func=functools.partial(fit_predict, final),
                inputs=(previous, split.name),
                params=_params(final),
                kind=qualified_name(final),
                version=_code_version(final, fit_predict),
                role="model",
            )
        )
    return Workflow(builder.ops, sources=SOURCES, name=name)


__all__ = ["SOURCES", "fit_predict", "fit_transform", "from_sklearn", "join_columns", "split_data"]
