"""Real servers for tests and benchmarks, bound to 127.0.0.1 on free ports.

* :class:`PostgresServer` runs Debian's PostgreSQL with ``initdb``/``pg_ctl`` in a temporary
  folder (as the ``postgres`` user when started by root, which PostgreSQL refuses to run as).
* :class:`MlflowServer` runs ``mlflow server`` in its own process group so that stopping it
  stops its workers too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

POSTGRES_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found; install them with "
    "'apt-get install -y --no-install-recommends postgresql' (what 'make test' does), "
    "or set MILEAGE_PG_BINDIR to the folder that holds pg_ctl"
)


def stop_process_group(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM a process started with ``start_new_session=True`` and its children; SIGKILL if slow."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path | None:
    env = os.environ.get("MILEAGE_PG_BINDIR")
    candidates = [env] if env else []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    for c in candidates:
        if c and (Path(c) / "pg_ctl").is_file() and (Path(c) / "initdb").is_file():
            return Path(c)
    return None


class PostgresServer:
    """A throw-away PostgreSQL cluster on a free loopback port.

    Example:
        >>> with PostgresServer() as pg:  # doctest: +SKIP
        ...     url = pg.create_database("trace")
    """

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            raise RuntimeError(POSTGRES_HINT)
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mileage-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        self._counter = 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[-800:]}"
            )

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            options,
            "start",
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "mileage") -> str:
        """Create a fresh database and return its URL."""
        import psycopg

        self._counter += 1
        name = f"{prefix}_{os.getpid()}_{self._counter}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class MlflowServer:
    """``mlflow server`` on a free loopback port, backed by a SQLite file or an mlruns folder.

    Job execution is disabled (it starts eight extra processes) and the server runs in its own
    process group, which :meth:`stop` kills as a whole. A stopped server can be started again
    on the same port (an outage and a recovery, as clients see them).

    Args:
        backend_store_uri: Where runs and the registry live.
        artifact_root: Where artifacts are written. By default clients write there directly
            (``file://`` artifact locations); with ``proxy_artifacts`` the server stores them
            there itself (``--artifacts-destination``) and clients read and write them through
            it as ``mlflow-artifacts:/`` URIs, as ``docker/compose.yaml`` ships it: a client
            then needs only the tracking URI, no access to the folder.
    """

    def __init__(
        self,
        backend_store_uri: str,
        artifact_root: Path,
        *,
        startup_timeout: float = 180.0,
        workers: int = 1,
        proxy_artifacts: bool = False,
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifact_root = artifact_root
        self.proxy_artifacts = proxy_artifacts
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.workers = workers
        self._proc: subprocess.Popen[bytes] | None = None
        self._launched = 0.0
        self._log = self._new_log()

    @staticmethod
    def _new_log() -> IO[bytes]:
        return tempfile.NamedTemporaryFile(  # closed in stop()
            prefix="mileage-mlflow-", suffix=".log", delete=False
        )

    def start(self) -> MlflowServer:
        """Start the server and wait until it answers /health."""
        return self.launch().wait_ready()

    def launch(self) -> MlflowServer:
        """Start the server without waiting for it (its ~10 s start can overlap other work);
        :meth:`wait_ready` waits."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        if self._log.closed:  # started again after stop()
            self._log = self._new_log()
        env = dict(os.environ)
        env.update(
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            MLFLOW_ALLOW_FILE_STORE="true",
            PYTHONUNBUFFERED="1",
        )
        mlflow_cli = Path(sys.executable).with_name("mlflow")
        cmd = [
            str(mlflow_cli) if mlflow_cli.exists() else "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_store_uri,
            *(
                ("--artifacts-destination", str(self.artifact_root), "--serve-artifacts")
                if self.proxy_artifacts
                else ("--default-artifact-root", self.artifact_root.as_uri())
            ),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self._proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self._launched = time.monotonic()
        return self

    def wait_ready(self) -> MlflowServer:
        """Wait until the launched server answers /health (``startup_timeout`` from launch).

        Raises:
            RuntimeError: It was not launched, exited, or did not answer in time.
        """
        if self._proc is None:
            raise RuntimeError("mlflow server: call launch() or start() first")
        deadline = self._launched + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {self._proc.returncode}: {self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"mlflow server did not answer /health within {self.startup_timeout:.0f}s: {self.log_tail()}"
        )

    def log_tail(self, n: int = 2000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-n:]

    def stop(self) -> None:
        stop_process_group(self._proc)
        self._log.close()
        with contextlib.suppress(OSError):
            Path(self._log.name).unlink()

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


PROMETHEUS_HINT = (
    "the prometheus binary was not found; install it with 'apt-get install -y "
    "--no-install-recommends prometheus' (what 'make test' does)"
)


class PrometheusServer:
    """A real Prometheus on a free loopback port, scraping the given targets every second.

    Args:
        targets: ``host:port`` of exporters to scrape (job ``mileage``).
        rule_files: Rule files to load.
        config: A whole configuration to run instead (the shipped ``prometheus.yml`` with
            its addresses rewritten, say); ``targets`` and ``rule_files`` are then ignored.
    """

    def __init__(
        self,
        targets: list[str],
        rule_files: list[Path] | None = None,
        *,
        scrape_seconds: float = 1.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError(PROMETHEUS_HINT)
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="mileage-prom-"))
        import yaml

        config = config or {
            "global": {
                "scrape_interval": f"{round(scrape_seconds * 1000)}ms",
                "evaluation_interval": f"{round(scrape_seconds * 1000)}ms",
            },
            "rule_files": [str(p) for p in rule_files or []],
            "scrape_configs": [{"job_name": "mileage", "static_configs": [{"targets": targets}]}],
        }
        (self.root / "prometheus.yml").write_text(yaml.safe_dump(config))
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusServer:
        _start_and_wait(
            self,
            "prometheus",
            [
                self.binary,
                f"--config.file={self.root / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
        )
        return self

    def query(self, expr: str) -> list[dict[str, object]]:
        """Run an instant query; returns the result vector (raises on a query error)."""
        import json
        from urllib.parse import urlencode

        try:
            with urllib.request.urlopen(
                f"{self.url}/api/v1/query?{urlencode({'query': expr})}", timeout=10
            ) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"query {expr!r} failed: {detail}") from None
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        result = body["data"]["result"]
        return result if isinstance(result, list) else [result]

    def stop(self) -> None:
        stop_process_group(self._proc)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


ALERTMANAGER_HINT = (
    "the Alertmanager binary was not found; install it with 'apt-get install -y "
    "--no-install-recommends prometheus-alertmanager' (what 'make test' does)"
)


class AlertmanagerServer:
    """A real Alertmanager on a free loopback port, with clustering off.

    Args:
        config: The configuration (a mapping written as YAML), e.g. the shipped
            ``dashboards/alertmanager/alertmanager.yml`` with its receivers pointed at a
            :class:`WebhookReceiver`.
    """

    def __init__(self, config: dict[str, object]) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise RuntimeError(ALERTMANAGER_HINT)
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="mileage-am-"))
        import yaml

        (self.root / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AlertmanagerServer:
        _start_and_wait(
            self,
            "alertmanager",
            [
                self.binary,
                f"--config.file={self.root / 'alertmanager.yml'}",
                f"--storage.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # one instance: no gossip port
                "--log.level=warn",
            ],
        )
        return self

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts it holds now (active, silenced, inhibited)."""
        import json

        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as resp:
            return list(json.loads(resp.read()))

    def silences(self) -> list[dict[str, Any]]:
        """``GET /api/v2/silences``."""
        import json

        with urllib.request.urlopen(f"{self.url}/api/v2/silences", timeout=10) as resp:
            return list(json.loads(resp.read()))

    def stop(self) -> None:
        stop_process_group(self._proc)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> AlertmanagerServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _start_and_wait(
    server: PrometheusServer | AlertmanagerServer, name: str, argv: list[str]
) -> None:
    """Start one of the Prometheus project's servers in its own process group and wait until
    its ``/-/ready`` answers (the log says why when it exits first)."""
    server._proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=(server.root / "log").open("wb"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server._proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {(server.root / 'log').read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become ready within 60 s")


class WebhookReceiver:
    """An HTTP server on a free loopback port that records every JSON POST it receives (what
    reaches people), by path: ``/page``, ``/ticket``, a pipeline's webhook.

    Args:
        status: HTTP status to answer (``500`` to play a broken receiver).
        delay: Seconds to wait before answering (to play a receiver that times out).
    """

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        import http.server
        import threading

        self.status = status
        self.delay = delay
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                with receiver._lock:
                    receiver.received.append((self.path, body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: tests read .received

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def on(self, path: str) -> list[dict[str, Any]]:
        """The bodies received on ``path``, oldest first."""
        with self._lock:
            return [body for p, body in self.received if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
