"""The model a monitored pipeline serves: an MLflow registry URI, resolved and loaded.

``models:/churn@champion`` is resolved to the version the alias points at when the batch is
checked (``churn/7``), so each finding names the model version that produced it. When a batch
carries no prediction column the model is loaded with ``mlflow.pyfunc`` and scores it.

Safety: loading an MLflow model may unpickle it (scikit-learn flavours do). This is the one
place Mileage loads a pickled object, and only from the registry named in the monitor's own
configuration, i.e. models the user registered; never point a monitor at a registry you do
not trust.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mileage.platform.errors import ConfigError, MileageError

if TYPE_CHECKING:
    import pandas as pd

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")


class ModelError(MileageError, LookupError):
    """The monitored model cannot be resolved, loaded or used to score a batch."""


class RegistryUnreachableError(ModelError):
    """The MLflow tracking server holding the model does not answer: nothing is wrong with the
    batch, so it is not judged; the run fails and the next one checks it."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI with the concrete version it points at now."""

    uri: str
    load_uri: str
    version: str | None


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/name@alias`` or ``models:/name/3`` to ``(name, alias, version)``.

    Raises:
        ConfigError: Not a registry URI.
    """
    m = _MODEL_URI.match(uri.strip())
    if not m:
        raise ConfigError(
            f"model {uri!r} is not an MLflow registry URI; use 'models:/NAME@ALIAS' (e.g. "
            "'models:/churn@champion') or 'models:/NAME/VERSION'."
        )
    return m["name"], m["alias"], m["version"]


#: MLflow's own client retries a refused connection 7 times with a doubling backoff (minutes):
#: a monitor run facing a stopped tracking server fails within seconds instead, and the next
#: run tries again. Set MLflow's variables to choose otherwise.
MLFLOW_CLIENT_DEFAULTS = {
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # no progress bars in the daemon's log
}


def _quiet() -> None:
    for key, value in MLFLOW_CLIENT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _server_down(tracking_uri: str | None) -> str | None:
    """The tracking server's address when it is an HTTP server that does not answer now."""
    import urllib.error
    import urllib.parse
    import urllib.request

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5):
            return None
    except urllib.error.HTTPError:
        return None  # it answers: the failure is something else
    except OSError:
        parts = urllib.parse.urlsplit(uri)  # shown without any user:password
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _unreachable(uri: str, server: str) -> RegistryUnreachableError:
    return RegistryUnreachableError(
        f"model {uri!r}: the MLflow tracking server at {server} is unreachable, so the model "
        "cannot be resolved or loaded and the new batches are not checked; start the "
        "tracking server (or fix the monitor's --tracking-uri / MLFLOW_TRACKING_URI). They "
        "stay unchecked and the next run checks them once it answers."
    )


def resolve_model(uri: str, tracking_uri: str | None) -> ResolvedModel:
    """Resolve an alias to the version it points at now.

    Raises:
        ConfigError: The URI is malformed.
        ModelError: The registry cannot be reached or has no such model or alias.
    """
    name, alias, version = parse_model_uri(uri)
    if alias is None:
        return ResolvedModel(uri, uri, f"{name}/{version}")
    _quiet()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        server = _server_down(tracking_uri)
        if server:
            raise _unreachable(uri, server) from None
        raise ModelError(
            f"model {uri!r}: the registry at {tracking_uri or 'MLFLOW_TRACKING_URI'} has no "
            f"version under alias {alias!r} ({str(exc).splitlines()[0][:200]}); set the alias "
            f"with MlflowClient().set_registered_model_alias({name!r}, {alias!r}, VERSION) or "
            "fix --model / --tracking-uri."
        ) from None
    return ResolvedModel(uri, f"models:/{name}/{mv.version}", f"{name}/{mv.version}")


@lru_cache(maxsize=8)
def _load(load_uri: str, tracking_uri: str | None) -> Any:
    _quiet()
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    try:
        return mlflow.pyfunc.load_model(load_uri)
    except (MlflowException, OSError) as exc:
        server = _server_down(tracking_uri)
        if server:
            raise _unreachable(load_uri, server) from None
        raise ModelError(
            f"model {load_uri!r} cannot be loaded from {tracking_uri or 'MLFLOW_TRACKING_URI'}: "
            f"{str(exc).splitlines()[0][:300]}; check that its artifacts are reachable."
        ) from None


def model_features(model: Any) -> list[str] | None:
    """Input column names from the model's signature, when it has one."""
    try:
        schema = model.metadata.get_input_schema()
    except AttributeError:
        return None
    if schema is None or not schema.has_input_names():
        return None
    return [str(n) for n in schema.input_names()]


def score(
    resolved: ResolvedModel,
    tracking_uri: str | None,
    frame: pd.DataFrame,
    features: list[str],
) -> pd.Series:
    """Predictions of the model for ``frame``.

    Raises:
        ModelError: The model cannot be loaded, or the frame lacks an input it needs.
    """
    import pandas as pd

    model = _load(resolved.load_uri, tracking_uri)
    wanted = model_features(model) or features
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ModelError(
            f"model {resolved.version or resolved.uri} needs column(s) "
            f"{', '.join(map(repr, missing[:5]))} that the batch lacks; the batch was not scored."
        )
    try:
        out = model.predict(frame[wanted])
    except Exception as exc:  # the model's own code: any failure means "could not score"
        raise ModelError(
            f"model {resolved.version or resolved.uri} failed to score the batch: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    if isinstance(out, pd.DataFrame):
        out = out.iloc[:, 0]
    return pd.Series(list(out) if not hasattr(out, "shape") else out, index=frame.index)
