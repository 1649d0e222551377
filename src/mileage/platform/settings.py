"""One frozen settings object, built once and passed down.

Precedence, highest first: explicit arguments, ``MILEAGE_*`` environment variables, the
``mileage.toml`` file (in the working directory, or the file named by ``MILEAGE_CONFIG``),
then the defaults below. Nothing reads the environment at import time.

Example:
    >>> from mileage.platform.settings import Settings
    >>> s = Settings.load(db_url="sqlite:///:memory:")
    >>> s.db_url
    'sqlite:///:memory:'
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mileage.platform.errors import ConfigError

CONFIG_FILE_NAME = "mileage.toml"
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("mileage_config_file", default=None)


def _config_file() -> Path:
    explicit = _CONFIG_FILE.get()
    if explicit is not None:
        return explicit
    return Path(os.environ.get("MILEAGE_CONFIG") or CONFIG_FILE_NAME)


#: Settings whose values are never shown in messages (they may hold credentials).
_SECRET_FIELDS = frozenset({"db_url", "webhook_url"})


def _problem(err: Any) -> str:
    """One validation problem, naming the setting; values of unknown keys (often a typo of
    a secret setting) and of secret settings are never echoed."""
    where = ".".join(str(p) for p in err["loc"]) or "settings"
    if err.get("type") == "extra_forbidden":
        return f"{where}: unknown setting (its value is not shown; known: {', '.join(_KNOWN)})"
    if where in _SECRET_FIELDS:
        return f"{where}: {err['msg']} (value not shown)"
    got = repr(err.get("input"))
    return f"{where}: {err['msg']}" + ("" if got in err["msg"] else f" (got {got})")


#: Path of the runbooks page the daemon serves (docs/runbooks.md, shipped with the package).
RUNBOOKS_PATH = "/runbooks"
#: The runbooks as the daemon serves them at its default address; ``runbook_url`` follows
#: ``daemon_host``/``daemon_port`` when unset. Set ``MILEAGE_RUNBOOK_URL`` to where your team
#: serves docs/runbooks.md (the anchors are the same).
DEFAULT_RUNBOOK_URL = f"http://127.0.0.1:9464{RUNBOOKS_PATH}"
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}
#: Bounds of a job interval (and the longest deadline): shorter than a tenth of a second spins
#: the scheduler; longer than a year is no schedule (timers and dates overflow far beyond it).
MIN_INTERVAL_SECONDS = 0.1
MAX_INTERVAL_SECONDS = 365 * 86400.0
#: Transports a Dask client can reach a scheduler over (``inproc`` exists only inside one
#: process).
_DASK_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


def daemon_runbook_url(host: str, port: int) -> str:
    """The runbooks page of a daemon bound to ``host:port`` (a wildcard bind: loopback)."""
    host = "127.0.0.1" if host in _ANY_ADDRESS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port or 9464}{RUNBOOKS_PATH}"


class Settings(BaseSettings):
    """Mileage configuration.

    Attributes:
        home: Folder for Mileage's local state (the embedded SQLite store, caches).
        db_url: SQLAlchemy URL of the trace store; defaults to SQLite in ``home``.
        shared_data: Folder with the public reference data used by tests and benchmarks.
        http_retries: Attempts for each network call before giving up.
        http_timeout_seconds: Deadline of one network call, from connecting to the last byte
            of the answer (a server that trickles bytes fails at the deadline).
        http_max_response_bytes: Largest answer read from a server; a larger one is refused.
        max_file_bytes: Largest file read from an ``mlruns/`` folder (params, tags,
            ``meta.yaml``); a larger one puts its run in quarantine.
        max_metric_file_bytes: Largest metric history file read from an ``mlruns/`` folder.
        http_concurrency: Concurrent requests to one server (e.g. metric history calls).
        collect_batch_size: Runs written per transaction by collectors.
        collect_task_runs: Runs (or OpenML runs) one collection task reads when sources
            are read apart on workers (``mileage collect sources``, the daemon): what a task
            returns is held in memory until it is written, so a larger source takes several
            tasks, each continuing from the cursor the previous one stored.
        plugin_enabled: Whether the MLflow plugin adds tags and checks.
        log_level: Level of the daemon's log on stderr: DEBUG, INFO, WARNING or ERROR.
        daemon_host: Address the daemon's /metrics and /healthz bind to (loopback by default).
        daemon_port: Port of /metrics and /healthz (0 picks a free one).
        daemon_workers: Jobs the daemon runs at the same time (never two runs of one job).
        daemon_http_threads: Requests to /metrics and /healthz served at once; further
            connections wait in the listen queue instead of each pinning a thread.
        daemon_http_timeout_seconds: Socket timeout of one HTTP connection to the daemon, so
            an idle or stalled client frees its thread.
        metrics_refresh_seconds: Longest age of the /metrics snapshot. The exposition is
            rendered off the request path, after job runs and at least this often; a scrape
            only copies the latest rendering.
        log_level: Level of the daemon's log (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``);
            at ``INFO`` every job run logs one line (job, slot, status, duration).
        log_format: ``text`` (one readable line per record) or ``json`` (one JSON object per
            line, for log shippers).
        collect_interval_seconds: How often the daemon collects each known source.
        metalearner_interval_seconds: How often the daemon retrains the meta-learner (only
            when the trace store holds training data and new runs arrived since the last model).
        job_retries: Attempts of a failing job within one scheduled run.
        job_deadline_seconds: How long one scheduled run may take before it is recorded as
            ``overran`` and abandoned so the next slot runs (0: the job's own interval, at
            least 60 s).
        job_backoff_seconds: First pause between attempts; doubles after each failure.
        misfire_grace_seconds: How late a missed run may still start after downtime (runs
            missed during downtime are coalesced into one catch-up run).
        monitor_interval_seconds: Cadence of a monitor job whose monitor sets none.
        routers: Routers that deliver suggestions beside the inbox, in order (``mlflow``,
            ``webhook``, or plugins of the ``mileage.routers`` entry point group).
        webhook_url: Default Slack-compatible webhook for suggestions (a secret: never logged
            or exported; a monitor's ``webhook_env`` overrides it). ``env:NAME`` reads the URL
            from the environment variable ``NAME``, so ``mileage.toml`` holds no secret.
        route_retries: Attempts of one delivery within a cycle.
        route_backoff_seconds: First pause between delivery attempts; doubles after each.
        route_max_attempts: Attempts of one delivery over all cycles before it is marked
            failed (the suggestion stays in the inbox).
        alertmanager_url: Alertmanager the daemon pushes Mileage's alerts to (API v2) and
            ``mileage alerts ack`` silences them in; empty: no push, no silences.
        alertmanager_push_interval_seconds: How often the daemon pushes the open alerts (each
            push keeps them firing for four intervals; a closed alert is pushed resolved).
        runbook_url: Absolute URL of the runbooks page (docs/runbooks.md); alert annotations
            and the built Prometheus rules link to its sections (``<runbook_url>#slo-burn``).
            Empty (the default): the copy shipped with the package, which the daemon serves at
            ``http://<daemon_host>:<daemon_port>/runbooks``; set it to where your team serves
            the page when people open pages away from the daemon's host.
        public_url: Base URL people open Mileage links from (an MLflow UI, say); alert
            notifications link a suggestion as ``<public_url>`` + the model version page when
            set, and name the CLI command otherwise.
        dask_scheduler: A Dask scheduler address (``tcp://10.0.0.5:8786``) or ``local`` for
            a ``distributed.LocalCluster`` on this machine: large batch checks, meta-learner
            training and collection run on it (needs ``mileage[dask]``). Empty: everything
            runs on this machine and nothing imports Dask.
        large_batch_rows: Batches with more rows than this (Parquet files) are checked in
            row groups, so a check's memory does not grow with the batch.
        daemon_processes: Worker processes that run the daemon's monitor checks and source
            reads when no Dask scheduler is set (0: one per core); the daemon writes their
            results itself.
    """

    model_config = SettingsConfigDict(
        env_prefix="MILEAGE_",
        frozen=True,
        extra="forbid",
        toml_file=CONFIG_FILE_NAME,
    )

    home: Path = Field(default_factory=lambda: Path.cwd() / ".mileage")
    db_url: str = ""
    shared_data: Path | None = None
    http_retries: int = Field(default=3, ge=1, le=20)
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_max_response_bytes: int = Field(default=256 * 2**20, ge=1024)
    max_file_bytes: int = Field(default=4 * 2**20, ge=1024)
    max_metric_file_bytes: int = Field(default=256 * 2**20, ge=1024)
    http_concurrency: int = Field(default=4, ge=1, le=64)
    collect_batch_size: int = Field(default=500, ge=1, le=100_000)
    collect_task_runs: int = Field(default=5_000, ge=1, le=1_000_000)
    plugin_enabled: bool = True
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    daemon_host: str = "127.0.0.1"
    daemon_port: int = Field(default=9464, ge=0, le=65535)
    daemon_workers: int = Field(default=4, ge=1, le=64)
    daemon_http_threads: int = Field(default=8, ge=1, le=256)
    daemon_http_timeout_seconds: float = Field(default=10.0, gt=0)
    metrics_refresh_seconds: float = Field(default=10.0, gt=0)
    collect_interval_seconds: float = Field(
        default=300.0, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS
    )
    metalearner_interval_seconds: float = Field(
        default=86400.0, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS
    )
    job_retries: int = Field(default=3, ge=1, le=20)
    job_deadline_seconds: float = Field(default=0.0, ge=0, le=MAX_INTERVAL_SECONDS)
    job_backoff_seconds: float = Field(default=5.0, ge=0)
    misfire_grace_seconds: float = Field(default=3600.0, gt=0)
    monitor_interval_seconds: float = Field(
        default=86400.0, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS
    )
    routers: list[str] = Field(default_factory=lambda: ["mlflow", "webhook"])
    webhook_url: SecretStr | None = None
    route_retries: int = Field(default=3, ge=1, le=20)
    route_backoff_seconds: float = Field(default=1.0, ge=0)
    route_max_attempts: int = Field(default=12, ge=1, le=1000)
    alertmanager_url: str = ""
    alertmanager_push_interval_seconds: float = Field(
        default=60.0, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS
    )
    runbook_url: str = ""
    public_url: str = ""
    dask_scheduler: str = ""
    large_batch_rows: int = Field(default=1_000_000, ge=1)
    daemon_processes: int = Field(default=0, ge=0, le=256)

    @field_validator("alertmanager_url", "public_url")
    @classmethod
    def _check_optional_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:9093, got {value!r}")
        return value.rstrip("/")

    @field_validator("dask_scheduler")
    @classmethod
    def _check_scheduler(cls, value: str) -> str:
        value = value.strip()
        if not value or value == "local":
            return value
        hint = (
            "must be a scheduler address such as tcp://127.0.0.1:8786, or 'local' for a "
            f"LocalCluster on this machine, got {value!r}"
        )
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError(hint)
        if scheme.lower() not in _DASK_SCHEMES:
            raise ValueError(f"{hint}: the transport must be one of {', '.join(_DASK_SCHEMES)}")
        try:
            parts = urllib.parse.urlsplit(f"//{rest}")
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{hint}: {exc}") from None
        if not parts.hostname or (parts.path not in ("", "/")) or (port is not None and port < 1):
            raise ValueError(f"{hint}: give HOST:PORT after {scheme}://")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value() if value is not None else ""
        if not text:
            return None
        if text.startswith("env:"):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", text[4:]):
                raise ValueError("env: must be followed by an environment variable name")
            return value
        if not text.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL or env:NAME (a variable holding the URL)")
        return value

    def webhook(self) -> tuple[str | None, str]:
        """The default webhook URL and where it came from, for messages (never the URL).

        ``webhook_url = "env:SLACK_WEBHOOK_URL"`` (in ``mileage.toml``) reads the URL from
        that variable each time, so the file holds no secret.

        Returns:
            ``(url or None, "MILEAGE_WEBHOOK_URL")`` or ``(url or None, "$NAME")``.
        """
        text = self.webhook_url.get_secret_value() if self.webhook_url else ""
        if text.startswith("env:"):
            return os.environ.get(text[4:]) or None, f"${text[4:]}"
        return text or None, "MILEAGE_WEBHOOK_URL"

    @model_validator(mode="before")
    @classmethod
    def _default_runbook_url(cls, data: Any) -> Any:
        """An unset ``runbook_url`` is the daemon's own ``/runbooks`` page."""
        if isinstance(data, dict) and not data.get("runbook_url"):
            host = str(data.get("daemon_host") or "127.0.0.1")
            try:
                port = int(data.get("daemon_port") or 9464)
            except (TypeError, ValueError):
                return data  # daemon_port's own validation names the problem
            data = {**data, "runbook_url": daemon_runbook_url(host, port)}
        return data

    @field_validator("runbook_url")
    @classmethod
    def _check_runbook_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "must be an absolute http(s) URL (alert links are opened from a pager, far from "
                f"this repository), got {value!r}"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        allowed = {"DEBUG", "INFO", "WARNING", "ERROR"}
        if value.upper() not in allowed:
            raise ValueError(f"log_level must be one of {sorted(allowed)}, got {value!r}")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_config_file()),
        )

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Build the settings from arguments, environment and ``mileage.toml``.

        Args:
            config_file: TOML file to read instead of ``MILEAGE_CONFIG`` / ``./mileage.toml``.
            **overrides: Explicit values; ``None`` values are ignored so CLI options that
                were not given do not mask the environment or the file.

        Returns:
            The frozen settings.

        Raises:
            ConfigError: A value is invalid; the message names the setting and its source.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        named = config_file or (
            Path(os.environ["MILEAGE_CONFIG"]) if os.environ.get("MILEAGE_CONFIG") else None
        )
        if named is not None and not named.is_file():
            raise ConfigError(
                f"configuration file {str(named)!r} does not exist; create it, or drop --config "
                "/ unset MILEAGE_CONFIG to use ./mileage.toml."
            )
        token = _CONFIG_FILE.set(named)
        try:
            return cls(**given)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"configuration file {str(named or CONFIG_FILE_NAME)!r} is not valid TOML "
                f"({exc}); fix it or move it away."
            ) from None
        except ValidationError as exc:
            problems = "; ".join(_problem(err) for err in exc.errors())
            raise ConfigError(
                f"invalid Mileage settings: {problems}. Fix the argument, the MILEAGE_* "
                f"environment variable or {named or CONFIG_FILE_NAME}."
            ) from None
        finally:
            _CONFIG_FILE.reset(token)

    @property
    def resolved_db_url(self) -> str:
        """The trace store URL, defaulting to ``<home>/mileage.db`` (SQLite)."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'mileage.db').resolve()}"

    def shared_data_dir(self, repo_root: Path | None = None) -> Path:
        """Folder of the shared reference data (``MILEAGE_SHARED_DATA`` or ``../shared/data``)."""
        if self.shared_data is not None:
            return self.shared_data
        root = repo_root or Path.cwd()
        return (root / ".." / "shared" / "data").resolve()


_KNOWN = tuple(sorted(Settings.model_fields))
