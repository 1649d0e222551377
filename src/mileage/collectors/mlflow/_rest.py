"""Reader of an MLflow tracking server over its REST API (the portable path).

Runs come from ``runs/search`` pages; full metric histories from the server's bulk history
endpoint (up to 100 runs per call) instead of one ``get-history`` call per run and metric,
which is what makes it tens of times faster than the obvious client loop. Authentication
follows MLflow's own rules (``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``, ...).
Every call is retried a bounded number of times.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mileage.collectors._base import WarningLog
from mileage.collectors.mlflow._records import (
    TERMINAL,
    DatasetInput,
    ExperimentRecord,
    MetricSeries,
    ModelVersionRecord,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
    kept_run_name,
    normalize_stage,
    normalize_status,
    signature_of,
)
from mileage.platform.errors import CollectorError, SourceUnavailableError
from mileage.platform.http import ResponseTooLargeError, fetch_within

log = logging.getLogger(__name__)

_PAGE = 1000
_IDS_PER_SEARCH = 100
_BULK_RUNS = 100
_BULK_MAX = 25000  # the server truncates a bulk answer at this many points
_USERINFO = re.compile(r"://[^/@\s]+@")


def scrub(text: str) -> str:
    """Remove credentials embedded in URLs (``https://user:secret@host``) from a message."""
    return _USERINFO.sub("://***@", text)


def public_uri(uri: str) -> str:
    """The tracking URI without credentials or a trailing slash (safe to store and log)."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class RestReader:
    """Reader of ``http(s)://host:port`` tracking servers."""

    kind = "rest"
    full_listing = False

    def __init__(
        self,
        uri: str,
        warnings: WarningLog,
        *,
        retries: int = 3,
        timeout: float = 30.0,
        concurrency: int = 4,
        max_bytes: int = 256 * 2**20,
    ) -> None:
        from mlflow.utils.credentials import get_default_host_creds

        self.uri = public_uri(uri)
        self._creds = get_default_host_creds(uri)
        self._warnings = warnings
        self._retries = retries
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._concurrency = max(1, concurrency)
        self._bulk_supported = True
        self._experiment_ids: list[str] | None = None

    def close(self) -> None:
        return None

    # -- HTTP ------------------------------------------------------------------------------

    def _call(self, endpoint: str, method: str = "GET", **kwargs: Any) -> dict[str, Any]:
        from mlflow.exceptions import MlflowException
        from mlflow.utils.rest_utils import http_request
        from requests.exceptions import RequestException

        # MLflow retries inside http_request, so the deadline covers all its attempts.
        deadline = self._timeout * self._retries + 0.5 * 2**self._retries
        try:
            response = fetch_within(
                lambda: http_request(
                    self._creds,
                    endpoint,
                    method,
                    max_retries=self._retries - 1,
                    backoff_factor=0.5,
                    backoff_jitter=0.1,
                    timeout=self._timeout,
                    stream=True,
                    **kwargs,
                ),
                deadline=deadline,
                max_bytes=self._max_bytes,
            )
        except ResponseTooLargeError as exc:
            raise CollectorError(
                f"MLflow tracking server {self.uri} answered {endpoint} with {exc}, more than "
                f"MILEAGE_HTTP_MAX_RESPONSE_BYTES={self._max_bytes}; raise it if such answers "
                "are expected."
            ) from None
        except (MlflowException, RequestException, OSError) as exc:
            raise SourceUnavailableError(
                f"MLflow tracking server {self.uri} did not answer {endpoint} after "
                f"{self._retries} attempts ({type(exc).__name__}: {scrub(str(exc))[:300]}); check that "
                "it is running and reachable, or raise MILEAGE_HTTP_RETRIES."
            ) from None
        if response.status == 404:
            raise _NotFoundError(endpoint, response.text[:2000])
        if response.status != 200:
            raise CollectorError(
                f"MLflow tracking server {self.uri} answered {endpoint} with HTTP "
                f"{response.status}: {response.text[:300]}"
            )
        try:
            body = json.loads(response.body)
        except ValueError:
            raise CollectorError(
                f"MLflow tracking server {self.uri} answered {endpoint} with a body that is not "
                f"JSON ({response.text[:120]!r}); is this URL an MLflow server?"
            ) from None
        if not isinstance(body, dict):
            raise CollectorError(
                f"MLflow tracking server {self.uri}: {endpoint} returned {type(body).__name__}"
            )
        return body

    def _pages(
        self, endpoint: str, method: str, body: dict[str, Any], key: str
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            request = dict(body)
            if token:
                request["page_token"] = token
            if method == "GET":
                page = self._call(endpoint, method, params=request)
            else:
                page = self._call(endpoint, method, json=request)
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    # -- experiments -----------------------------------------------------------------------

    def experiments(self) -> list[ExperimentRecord]:
        out = []
        for e in self._pages(
            "/api/2.0/mlflow/experiments/search",
            "POST",
            {"max_results": _PAGE, "view_type": "ALL"},
            "experiments",
        ):
            out.append(
                ExperimentRecord(
                    experiment_id=str(e["experiment_id"]),
                    name=e.get("name", ""),
                    artifact_location=e.get("artifact_location"),
                    lifecycle_stage=e.get("lifecycle_stage", "active"),
                    created_ms=_int(e.get("creation_time")),
                    tags={t["key"]: t.get("value", "") for t in e.get("tags", [])},
                )
            )
        self._experiment_ids = [e.experiment_id for e in out]
        return out

    # -- runs ------------------------------------------------------------------------------

    def _search(self, filter_string: str, view: str) -> Iterator[dict[str, Any]]:
        if self._experiment_ids is None:
            self.experiments()
        ids = self._experiment_ids or []
        for i in range(0, len(ids), 100):
            yield from self._pages(
                "/api/2.0/mlflow/runs/search",
                "POST",
                {
                    "experiment_ids": ids[i : i + 100],
                    "filter": filter_string,
                    "run_view_type": view,
                    "max_results": _PAGE,
                    "order_by": ["attributes.start_time ASC"],
                },
                "runs",
            )

    def list_runs(self, cursor: dict[str, Any], *, full: bool) -> Iterator[RunHeader]:
        watermark = cursor.get("max_start_ms")
        seen: set[str] = set()
        if full or watermark is None:
            searches = [("", "ALL")]
        else:
            searches = [(f"attributes.start_time >= {int(watermark)}", "ALL"), ("", "DELETED_ONLY")]
            open_runs = list(cursor.get("open_runs", []))
            for i in range(0, len(open_runs), _IDS_PER_SEARCH):
                quoted = ", ".join(
                    f"'{r}'" for r in open_runs[i : i + _IDS_PER_SEARCH] if _safe_id(r)
                )
                if quoted:
                    searches.append((f"attributes.run_id IN ({quoted})", "ALL"))
        for filter_string, view in searches:
            for run in self._search(filter_string, view):
                header = self._header(run)
                if header.run_id not in seen:
                    seen.add(header.run_id)
                    yield header

    @staticmethod
    def _header(run: dict[str, Any]) -> RunHeader:
        info, data = run.get("info", {}), run.get("data", {})
        latest = sorted(
            (m["key"], _int(m.get("step")), _int(m.get("timestamp")))
            for m in data.get("metrics", [])
        )
        status = normalize_status(info.get("status"))
        return RunHeader(
            run_id=info.get("run_id") or info["run_uuid"],
            experiment_id=str(info.get("experiment_id")),
            start_ms=_int(info.get("start_time")),
            status=status,
            signature=signature_of(
                status,
                info.get("end_time"),
                info.get("lifecycle_stage"),
                len(data.get("params", [])),
                len(data.get("tags", [])),
                *latest,
            ),
        )

    def read_runs(self, headers: list[RunHeader]) -> list[RunRecord]:
        runs: dict[str, dict[str, Any]] = {}
        for i in range(0, len(headers), _IDS_PER_SEARCH):
            quoted = ", ".join(
                f"'{h.run_id}'" for h in headers[i : i + _IDS_PER_SEARCH] if _safe_id(h.run_id)
            )
            for run in self._search(f"attributes.run_id IN ({quoted})", "ALL"):
                info = run.get("info", {})
                runs[info.get("run_id") or info["run_uuid"]] = run
        by_key: dict[str, list[str]] = {}
        for run_id, run in runs.items():
            for m in run.get("data", {}).get("metrics", []):
                by_key.setdefault(m["key"], []).append(run_id)
        points: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
        jobs = [
            (key, sorted(run_ids[i : i + _BULK_RUNS]))
            for key, run_ids in by_key.items()
            for i in range(0, len(run_ids), _BULK_RUNS)
        ]
        # Servers answer several history calls at once; the calls are independent.
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            for part in pool.map(lambda job: self._histories(job[0], job[1], {}), jobs):
                points.update(part)
        out = []
        for h in headers:
            found = runs.get(h.run_id)
            if found is None:
                continue
            info, data = found.get("info", {}), found.get("data", {})
            tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
            metrics = {
                m["key"]: MetricSeries.from_points(points.get((h.run_id, m["key"])) or [_point(m)])
                for m in data.get("metrics", [])
            }
            out.append(
                RunRecord(
                    run_id=h.run_id,
                    experiment_id=str(info.get("experiment_id")),
                    name=kept_run_name(info.get("run_name"), tags),
                    user=info.get("user_id") or tags.get("mlflow.user") or None,
                    status=normalize_status(info.get("status")),
                    start_ms=_int(info.get("start_time")),
                    end_ms=_int(info.get("end_time")),
                    lifecycle_stage=info.get("lifecycle_stage", "active"),
                    artifact_uri=info.get("artifact_uri"),
                    params={p["key"]: p.get("value", "") for p in data.get("params", [])},
                    tags=tags,
                    metrics={k: v for k, v in metrics.items() if len(v)},
                    inputs=_inputs(found),
                    signature=h.signature,
                )
            )
        return out

    def _histories(
        self,
        key: str,
        run_ids: list[str],
        points: dict[tuple[str, str], list[tuple[int, int, float]]],
    ) -> dict[tuple[str, str], list[tuple[int, int, float]]]:
        """Fill ``points`` with the histories of ``key`` for ``run_ids`` and return it."""
        if self._bulk_supported:
            try:
                answer = self._call(
                    "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
                    "GET",
                    params=[("run_id", r) for r in run_ids]
                    + [("metric_key", key), ("max_results", _BULK_MAX)],
                )
            except _NotFoundError as exc:
                # A missing endpoint disables bulk reads; a run the server cannot open only
                # sends this batch down the one-run-at-a-time path.
                self._bulk_supported = exc.resource_missing
                answer = None
            if answer is not None:
                metrics = answer.get("metrics", [])
                if len(metrics) < _BULK_MAX:
                    for m in metrics:
                        points.setdefault((m["run_id"], key), []).append(_point(m))
                    return points
                if len(run_ids) > 1:  # truncated: split the batch
                    half = len(run_ids) // 2
                    self._histories(key, run_ids[:half], points)
                    return self._histories(key, run_ids[half:], points)
        for run_id in run_ids:  # a very long history, a run the server cannot open, no bulk
            try:
                points[(run_id, key)] = [
                    _point(m)
                    for m in self._pages(
                        "/api/2.0/mlflow/metrics/get-history",
                        "GET",
                        {"run_id": run_id, "metric_key": key, "max_results": _BULK_MAX},
                        "metrics",
                    )
                ]
            except _NotFoundError:
                # Seen with legacy mlruns/ stores served by MLflow 3: runs are searchable
                # but cannot be opened by id. Keep the latest value the search returned.
                self._warnings.add(
                    "server could not return a metric history (kept the latest value only; "
                    "collect the store's folder or database directly for full histories)",
                    f"{run_id[:12]}/{key}",
                )
        return points

    # -- registry --------------------------------------------------------------------------

    def registry(self) -> RegistrySnapshot:
        snap = RegistrySnapshot()
        try:
            for m in self._pages(
                "/api/2.0/mlflow/registered-models/search",
                "GET",
                {"max_results": _PAGE},
                "registered_models",
            ):
                snap.model_updated_ms[m["name"]] = _int(m.get("last_updated_timestamp")) or 0
                for a in m.get("aliases", []):
                    snap.aliases[(m["name"], a["alias"])] = int(a["version"])
            for v in self._pages(
                "/api/2.0/mlflow/model-versions/search",
                "GET",
                {"max_results": 10000},
                "model_versions",
            ):
                snap.versions.append(
                    ModelVersionRecord(
                        model_name=v["name"],
                        version=int(v["version"]),
                        run_id=v.get("run_id") or None,
                        status=v.get("status"),
                        stage=normalize_stage(v.get("current_stage")),
                        source=v.get("source"),
                        description=v.get("description"),
                        created_ms=_int(v.get("creation_timestamp")),
                        updated_ms=_int(v.get("last_updated_timestamp")),
                        tags={t["key"]: t.get("value", "") for t in v.get("tags", [])},
                    )
                )
        except _NotFoundError:
            self._warnings.add("tracking server has no model registry; registry skipped", self.uri)
        snap.versions.sort(key=lambda v: (v.model_name, v.version))
        return snap


class _NotFoundError(Exception):
    """HTTP 404: a missing endpoint, or (``resource_missing``) a run the server cannot find."""

    def __init__(self, endpoint: str, body: str = "") -> None:
        super().__init__(endpoint)
        self.resource_missing = "RESOURCE_DOES_NOT_EXIST" in body


def _point(m: dict[str, Any]) -> tuple[int, int, float]:
    return (_int(m.get("step")) or 0, _int(m.get("timestamp")) or 0, _float(m.get("value")))


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _float(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _safe_id(run_id: str) -> bool:
    # Run ids go into a filter string; MLflow's are hex, so anything else is refused.
    return run_id.replace("-", "").isalnum()


def _inputs(run: dict[str, Any]) -> list[DatasetInput]:
    out = []
    for item in run.get("inputs", {}).get("dataset_inputs", []):
        d = item.get("dataset", {})
        tags = {t["key"]: t.get("value", "") for t in item.get("tags", [])}
        out.append(
            DatasetInput(
                name=d.get("name", ""),
                digest=d.get("digest", ""),
                source_type=d.get("source_type"),
                source=d.get("source"),
                schema=d.get("schema"),
                profile=d.get("profile"),
                context=tags.get("mlflow.data.context", ""),
            )
        )
    out.sort(key=lambda x: (x.name, x.digest))
    return out


__all__ = ["TERMINAL", "RestReader", "public_uri"]
