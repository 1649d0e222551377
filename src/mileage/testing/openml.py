"""Recorded OpenML responses served from a real HTTP server on 127.0.0.1.

The recordings (``../shared/data/openml-responses``: openml-python's test cache and mock
responses) are files, not a server. :class:`RecordedOpenml` indexes them by the API call
they answer: object documents by their location (``runs/1/description.xml`` answers
``run/1``, ``mock_responses/flows/flow_4024.xml`` answers ``flow/4024``), and the rows of
recorded list documents (``run/list``, ``evaluation/list``, ``setup/list``, ``flow/list``,
``user/list``) so that a list call is answered with the recorded rows that match its
filters, paged by ``limit``/``offset``. Anything else gets OpenML's "no results" error
document (HTTP 412), as the real server answers.

What the recordings answer (openml-python's test server, so some ids disagree with the
documents: ``run/1`` describes run 100 and ``setup/1`` setup 100):

============================== ==========================================================
call                           recorded answer
============================== ==========================================================
``run/1``                      run 100 on task 28 (flow 67, setup 12), 18 measures x 10 folds
``setup/1``                    setup 100 of flow 60 (two parameters)
``flow/4024``, ``flow/6742``   flows with nested components (4025/4026/1724, 6743/5888)
``task/1``, ``task/3``,        tasks with their dataset, target and estimation procedure
``task/1882``
``data/2``, ``data/-1``,       dataset descriptions; ``data/qualities/2`` (106 qualities),
``data/61``                    ``data/qualities/-1`` (19), ``data/features/2``
``evaluation/list/...``        one row: run 12 on task 1, uploader 1, upload time, accuracy
``setup/list/...``             setups 1001 and 1002 of flow 5873
``flow/list/...``              flows 100 (uploader 1) and 101 (uploader 2)
``user/list/...``              user 1
============================== ==========================================================

:class:`RecordedOpenmlServer` serves the index over HTTP like ``https://www.openml.org/
api/v1/xml`` (gzip when asked), logs every call, and injects faults on demand (HTTP 5xx,
answers slower than the client's timeout, truncated or garbled bodies, dropped
connections) so tests exercise the collector's retries against real sockets.

Example:
    >>> with RecordedOpenmlServer(Path("../shared/data/openml-responses")) as server:  # doctest: +SKIP
    ...     openml.config.server = server.url
"""

from __future__ import annotations

import contextlib
import gzip
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from mileage.testing.servers import free_port

if TYPE_CHECKING:
    from mileage.collectors.openml import Selection

NS = "http://openml.org/openml"
PREFIX = "/api/v1/xml/"
NO_RESULT = (
    f'<oml:error xmlns:oml="{NS}"><oml:code>372</oml:code>'
    "<oml:message>No results</oml:message></oml:error>"
).encode()

#: Recorded list documents: list kind -> (root element, row element, filter -> row field).
LISTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "run": (
        "runs",
        "run",
        {
            "run": "run_id",
            "task": "task_id",
            "flow": "flow_id",
            "setup": "setup_id",
            "uploader": "uploader",
        },
    ),
    "evaluation": (
        "evaluations",
        "evaluation",
        {
            "run": "run_id",
            "task": "task_id",
            "flow": "flow_id",
            "setup": "setup_id",
            "uploader": "uploader",
            "function": "function",
        },
    ),
    "setup": ("setups", "setup", {"setup": "setup_id", "flow": "flow_id"}),
    "flow": ("flows", "flow", {"uploader": "uploader", "id": "id"}),
    "user": ("users", "user", {"user_id": "id"}),
}
_CACHE_FILES = {
    ("runs", "description.xml"): "run",
    ("flows", "flow.xml"): "flow",
    ("setups", "description.xml"): "setup",
    ("tasks", "task.xml"): "task",
    ("datasets", "description.xml"): "data",
    ("datasets", "qualities.xml"): "data/qualities",
    ("datasets", "features.xml"): "data/features",
}
_MOCK_OBJECT = re.compile(r"^(flow|data_description|run|task|setup)_(-?\d+)\.xml$")
_MOCK_KINDS = {
    "flow": "flow",
    "data_description": "data",
    "run": "run",
    "task": "task",
    "setup": "setup",
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class RecordedOpenml:
    """The recorded responses indexed by the API call they answer.

    Args:
        root: The ``openml-responses`` folder.
        host: The recorded server's folder in openml-python's cache layout.
    """

    def __init__(self, root: Path, host: str = "org/openml/test") -> None:
        self.root = root
        self.objects: dict[str, Path] = {}
        self.rows: dict[str, list[ET.Element]] = defaultdict(list)
        self._index_cache(root / host)
        self._index_history(root / "history", host.replace("/", "__"))
        self._index_mock(root / "mock_responses")

    def _index_cache(self, folder: Path) -> None:
        for path in sorted(folder.rglob("*.xml")):
            rel = path.relative_to(folder).parts
            if rel[:3] == ("api", "v1", "xml") and path.name == "body.xml":
                self.objects.setdefault("/".join(rel[3:-1]), path)
            elif len(rel) == 3 and (rel[0], rel[2]) in _CACHE_FILES:
                self.objects.setdefault(f"{_CACHE_FILES[(rel[0], rel[2])]}/{rel[1]}", path)

    def _index_history(self, folder: Path, host_prefix: str) -> None:
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.xml")):
            name = path.name
            if name.startswith(host_prefix + "__"):
                parts = name[len(host_prefix) + 2 :].split("__")
                if len(parts) == 3 and (parts[0], parts[2]) in _CACHE_FILES:
                    self.objects.setdefault(
                        f"{_CACHE_FILES[(parts[0], parts[2])]}/{parts[1]}", path
                    )
            elif name.startswith("mock_responses__"):
                self._index_mock_file(path, name.split("__")[-1])

    def _index_mock(self, folder: Path) -> None:
        if folder.is_dir():
            for path in sorted(folder.rglob("*.xml")):
                self._index_mock_file(path, path.name)

    def _index_mock_file(self, path: Path, name: str) -> None:
        match = _MOCK_OBJECT.match(name)
        if match:
            self.objects.setdefault(f"{_MOCK_KINDS[match[1]]}/{match[2]}", path)
            return
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            return
        for kind, (root_name, row, _) in LISTS.items():
            if _local(root.tag) == root_name:
                self.rows[kind].extend(el for el in root if _local(el.tag) == row)

    def answer(self, call: str) -> bytes | None:
        """The recorded body for ``call``, or None when nothing recorded answers it."""
        path = self.objects.get(call)
        if path is not None:
            return path.read_bytes()
        parts = call.split("/")
        if len(parts) >= 2 and parts[1] == "list" and parts[0] in LISTS:
            return self._list(parts[0], parts[2:])
        return None

    def _list(self, kind: str, parts: list[str]) -> bytes | None:
        root_name, _, fields = LISTS[kind]
        filters = dict(zip(parts[0::2], parts[1::2]))
        limit = int(filters.pop("limit", "0") or 0)
        offset = int(filters.pop("offset", "0") or 0)
        rows = self.rows[kind]
        for key, value in filters.items():
            field = fields.get(key)
            if field is None:
                return None
            wanted = set(value.split(","))
            rows = [r for r in rows if _field(r, field) in wanted]
        rows = rows[offset : offset + limit] if limit else rows[offset:]
        if not rows:
            return None
        ET.register_namespace("oml", NS)
        body = b"".join(ET.tostring(r) for r in rows)
        return (
            f'<oml:{root_name} xmlns:oml="{NS}">'.encode() + body + f"</oml:{root_name}>".encode()
        )


def _field(row: ET.Element, name: str) -> str | None:
    for child in row:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


FAULTS = ("500", "503", "timeout", "truncate", "garbage", "reset")


def recorded_selection() -> Selection:
    """A selection that reaches every object the recordings hold.

    run/1 (a description of run 100), run 12 (an evaluation row), three tasks, three flows
    (two with subflows), uploaders 1 and 2 (their flow lists), setup 1 (a description of
    setup 100), the setups of flow 5873 (a setup list) and three datasets (two with
    qualities).
    """
    from mileage.collectors.openml import Selection

    return Selection(
        runs=(1, 12),
        tasks=(1, 3, 1882),
        flows=(4024, 6742, 5873),
        uploaders=(1, 2),
        setups=(1,),
        datasets=(2, -1, 61),
    )


class RecordedOpenmlServer:
    """A real HTTP server on 127.0.0.1 answering OpenML API calls from recordings.

    Attributes:
        url: The API URL to give the client (``http://127.0.0.1:<port>/api/v1/xml``).
        calls: Every call received, in order.
        slow_seconds: How long a ``timeout`` fault waits before answering.
    """

    def __init__(self, root: Path, *, slow_seconds: float = 3.0) -> None:
        self.recorded = RecordedOpenml(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1/xml"
        self.calls: list[str] = []
        self.slow_seconds = slow_seconds
        self._faults: list[tuple[re.Pattern[str], list[str]]] = []
        self._overrides: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def fail(self, pattern: str, *faults: str) -> None:
        """Answer the next calls matching the regex ``pattern`` with ``faults``, in order.

        Faults: ``500``/``503`` (HTTP error without an OpenML body), ``timeout`` (answer after
        ``slow_seconds``), ``truncate`` (the first half of the body), ``garbage`` (bytes that
        are not XML), ``reset`` (close the connection without answering).
        """
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append((re.compile(pattern), list(faults)))

    def override(self, call: str, body: bytes, status: int = 200) -> None:
        """Answer ``call`` with ``body`` and ``status`` instead of the recording."""
        with self._lock:
            self._overrides[call] = (status, body)

    def clear(self) -> None:
        """Forget faults, overrides and the call log."""
        with self._lock:
            self._faults.clear()
            self._overrides.clear()
            self.calls.clear()

    def _next_fault(self, call: str) -> str | None:
        with self._lock:
            self.calls.append(call)
            for pattern, faults in self._faults:
                if faults and pattern.search(call):
                    return faults.pop(0)
        return None

    def start(self) -> RecordedOpenmlServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms stalls

            def do_GET(self) -> None:
                path = unquote(urlsplit(self.path).path)
                call = path[len(PREFIX) :].strip("/") if path.startswith(PREFIX) else ""
                fault = server._next_fault(call)
                if fault == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault in ("500", "503"):
                    self._send(int(fault), b"<html><body>Internal Server Error</body></html>")
                    return
                if fault == "timeout":
                    time.sleep(server.slow_seconds)
                code, body = server._overrides.get(call, (200, b""))
                if not body:
                    code, body = 200, server.recorded.answer(call) or b""
                    if not body:
                        body, code = NO_RESULT, 412
                if fault == "truncate":
                    body = body[: max(1, len(body) // 2)]
                elif fault == "garbage":
                    body = b"\x00\xff<<not xml" + body[::-1][:200]
                self._send(code, body)

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # the client may have given up

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> RecordedOpenmlServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = [
    "FAULTS",
    "LISTS",
    "NO_RESULT",
    "RecordedOpenml",
    "RecordedOpenmlServer",
    "recorded_selection",
]
