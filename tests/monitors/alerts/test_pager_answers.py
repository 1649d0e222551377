"""What answers at MILEAGE_ALERTMANAGER_URL is not always Alertmanager: a proxy's login page, a
service that speaks no HTTP, a JSON of the wrong shape. Each is a PagerError naming the URL and
the fix (the daemon logs it and /healthz shows it), never a traceback, and no body is quoted."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mileage.monitors.alerts import AlertmanagerClient, PagerError
from mileage.platform.store import utcnow

SECRETISH = b"session=abc123"


def _http(body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def login_page() -> Iterator[str]:
    yield from _http(b"<html>please log in " + SECRETISH + b"</html>")


@pytest.fixture
def json_list() -> Iterator[str]:
    yield from _http(b"[1, 2, 3]")


@pytest.fixture
def not_http() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HELLO " + SECRETISH + b"\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _silence(client: AlertmanagerClient) -> str:
    return client.create_silence(
        {"mileage_alert_id": "1"}, ends_at=utcnow() + timedelta(days=1), by="t", comment="c"
    )


def test_a_page_that_is_not_json_is_a_pager_error(login_page: str) -> None:
    client = AlertmanagerClient(login_page, timeout=5)
    for call in (client.ping, client.silences, lambda: _silence(client)):
        with pytest.raises(PagerError, match=r"not JSON .*Alertmanager itself") as info:
            call()
        assert login_page in str(info.value) and "session" not in str(info.value)


def test_json_of_the_wrong_shape_is_a_pager_error(json_list: str) -> None:
    client = AlertmanagerClient(json_list, timeout=5)
    with pytest.raises(PagerError, match=r"POST /silences with a JSON list where .* dict"):
        _silence(client)
    client.post_alerts([{"labels": {"alertname": "x"}}])  # the answer to a push is not read


def test_a_service_that_speaks_no_http_is_a_pager_error(not_http: str) -> None:
    client = AlertmanagerClient(not_http, timeout=5)
    with pytest.raises(PagerError, match=r"did not answer GET /status in HTTP") as info:
        client.ping()
    assert "session" not in str(info.value) and not_http in str(info.value)


def test_a_url_urllib_cannot_open_is_a_pager_error() -> None:
    # settings insist on http(s)://, but the client is public API too
    with pytest.raises(PagerError, match=r"is unreachable .*MILEAGE_ALERTMANAGER_URL"):
        AlertmanagerClient("127.0.0.1:9093", timeout=5).ping()
