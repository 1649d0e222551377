"""A total deadline per HTTP call: a server that trickles one byte a second fails on time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from mileage.cli import app
from mileage.platform.http import DeadlineExceededError, ResponseTooLargeError, fetch_within


class _Trickler:
    """A loopback server that answers every connection one byte a second (headers included),
    or, with ``flood``, a fast answer of ``flood`` bytes."""

    def __init__(self, *, flood: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.flood = flood
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.flood:
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.flood}\r\n\r\n".encode()
                    conn.sendall(head + b"x" * self.flood)
                    return
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
                    if self.stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(1.0)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickler() -> Iterator[_Trickler]:
    server = _Trickler()
    yield server
    server.close()


def test_trickling_server_fails_at_the_deadline(trickler: _Trickler) -> None:
    url = f"http://127.0.0.1:{trickler.port}/"
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        fetch_within(
            lambda: requests.get(url, timeout=1.5, stream=True), deadline=3, max_bytes=1 << 20
        )
    # Per-read timeouts never fire here (a byte arrives every second); the deadline does.
    assert time.monotonic() - started < 30


def test_response_over_the_cap_is_refused() -> None:
    server = _Trickler(flood=200_000)
    try:
        url = f"http://127.0.0.1:{server.port}/"
        with pytest.raises(ResponseTooLargeError):
            fetch_within(
                lambda: requests.get(url, timeout=5, stream=True), deadline=30, max_bytes=100_000
            )
        answer = fetch_within(
            lambda: requests.get(url, timeout=5, stream=True), deadline=30, max_bytes=300_000
        )
        assert answer.status == 200 and len(answer.body) == 200_000
    finally:
        server.close()


@pytest.mark.parametrize(
    "args",
    [
        ["collect", "openml", "--server", "http://127.0.0.1:{port}/api/v1/xml", "--run", "1"],
        ["collect", "mlflow", "--tracking-uri", "http://127.0.0.1:{port}"],
    ],
    ids=["openml", "mlflow"],
)
def test_trickling_server_ends_collect_with_one_line(
    trickler: _Trickler,
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.setenv("MILEAGE_HTTP_RETRIES", "2")
    monkeypatch.setenv("MILEAGE_HTTP_TIMEOUT_SECONDS", "2")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    started = time.monotonic()
    result = CliRunner().invoke(app, [a.format(port=trickler.port) for a in args])
    assert time.monotonic() - started < 60  # it used to run until killed
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
