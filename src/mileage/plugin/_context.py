"""The MLflow run-context provider (entry point ``mlflow.run_context_provider``).

On every ``mlflow.start_run()`` it adds what MLflow does not record itself: whether the working
tree matched the commit MLflow records (dirty state, a hash of uncommitted changes) and the
environment (Python and key package versions). It also installs (or re-installs, after MLflow
autologging re-patched) the hooks that later log the training data as a dataset input, tag the
pipeline and summarise failures. It fails
open: an error becomes a warning and the run starts as usual. ``MILEAGE_PLUGIN_ENABLED=0``
turns it off.
"""

from __future__ import annotations

import time
from pathlib import Path

from mlflow.tracking.context.abstract_context import RunContextProvider

from mileage.plugin import _hooks
from mileage.plugin._fingerprints import code_tags, environment_tags
from mileage.plugin._hooks import plugin_enabled

_CODE_TTL_SECONDS = 30.0
_code_cache: dict[Path, tuple[float, dict[str, str]]] = {}


def _code() -> dict[str, str]:
    cwd = Path.cwd()
    cached = _code_cache.get(cwd)
    if cached and time.monotonic() - cached[0] < _CODE_TTL_SECONDS:
        return cached[1]
    tags = code_tags(cwd)
    _code_cache[cwd] = (time.monotonic(), tags)
    return tags


class MileageRunContextProvider(RunContextProvider):
    """Tags every fluent ``mlflow.start_run()`` with code and environment fingerprints."""

    def in_context(self) -> bool:
        return plugin_enabled()

    def tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        _hooks.safe("installing hooks", _hooks.install)
        tags.update(_hooks.safe("fingerprinting the environment", environment_tags) or {})
        tags.update(_hooks.safe("fingerprinting the code", _code) or {})
        return tags
