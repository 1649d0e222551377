"""Optional extras: which ``pip install 'mileage[...]'`` brings which library.

``pip install mileage`` gives the MLflow plugin, the collectors and the meta-learner. The
monitoring stack, the daemon, the dashboards builder and a few integrations are extras, so the
package installs into a training environment without them. Code that needs one says which
extra to install, in one line, instead of failing with a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.util

from mileage.platform.errors import MileageError

#: Top-level module -> the extra that installs it.
EXTRA_OF_MODULE = {
    "great_expectations": "monitors",
    "evidently": "monitors",
    "apscheduler": "daemon",
    "grafana_foundation_sdk": "dashboards",
    "psycopg": "postgres",
    "openml": "openml",
    "optuna": "optuna",
    "statsmodels": "demo",
    "pymfe": "metafeatures",
    "flaml": "flaml",
    "dask": "dask",
    "distributed": "dask",
}


class MissingExtraError(MileageError, ImportError):
    """A feature needs an optional extra that is not installed."""

    def __init__(self, what: str, module: str, extra: str) -> None:
        self.what, self.module, self.extra = what, module, extra
        super().__init__(
            f"{what} needs the optional extra '{extra}' ({module} is not installed): "
            f"pip install 'mileage[{extra}]'"
        )


def missing_extra(exc: ModuleNotFoundError, what: str) -> MissingExtraError | None:
    """The extra that would have prevented ``exc``, or None if it is not an extra's module."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    return MissingExtraError(what, top, extra) if extra else None


def require(module: str, what: str) -> None:
    """Raise :class:`MissingExtraError` if ``module`` (an extra's library) is not installed.

    Args:
        module: The top-level module, a key of :data:`EXTRA_OF_MODULE`.
        what: The feature that needs it, for the message ("the 'mileage' evaluator").
    """
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(what, module, EXTRA_OF_MODULE[module])


__all__ = ["EXTRA_OF_MODULE", "MissingExtraError", "missing_extra", "require"]
