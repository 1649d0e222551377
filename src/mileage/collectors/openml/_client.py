"""Where OpenML documents come from: a server, an openml-python cache folder, or both.

The server is spoken to exactly as openml-python does (``GET <server>/<call>``, the API key
as a parameter, gzip, OpenML error documents), but every request has a timeout and a
bounded number of attempts with backoff: openml-python's own client waits forever on a
server that accepts a connection and never answers. Server URL and API key default to
openml-python's configuration (``openml.config``, i.e. ``~/.config/openml/config``).

A cache folder is read in openml-python's layout (``<root>/<reversed host>/runs/<id>/
description.xml`` and so on, plus the newer ``api/v1/xml/<call>/body.xml`` response
cache). Only XML is read: openml-python also caches pickles there, and a pickle from a
folder we did not write is never loaded.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from mileage.collectors.openml._parse import parse_error
from mileage.platform.errors import CollectorError, ConfigError, DataError, SourceUnavailableError
from mileage.platform.http import DeadlineExceededError, ResponseTooLargeError, fetch_within

log = logging.getLogger(__name__)

DEFAULT_SERVER = "https://www.openml.org/api/v1/xml"
#: Error codes that mean "you may not" rather than "there is nothing".
_AUTH_CODES = frozenset({100, 101, 102, 103, 104, 105, 106})
#: Database connection error on the server: worth another attempt.
_RETRYABLE_CODES = frozenset({107})
_HOST_FOLDERS = ("runs", "flows", "setups", "tasks", "datasets", "api")
_OBJECT_CALL = re.compile(r"^(run|flow|setup|task|data|data/qualities|data/features)/(-?\d+)$")
_CACHE_FILES = {
    "run": ("runs", "description.xml"),
    "flow": ("flows", "flow.xml"),
    "setup": ("setups", "description.xml"),
    "task": ("tasks", "task.xml"),
    "data": ("datasets", "description.xml"),
    "data/qualities": ("datasets", "qualities.xml"),
    "data/features": ("datasets", "features.xml"),
}


@dataclass(frozen=True)
class NoResult:
    """The source has nothing for a call (OpenML's "no results" answers, or not cached)."""

    call: str
    reason: str


Answer = str | NoResult
Validator = Callable[[str], object]


class OpenmlSource(Protocol):
    """Anything that answers OpenML API calls with XML text."""

    #: Identity of the OpenML server the documents come from (its host name).
    uri: str
    #: Where the documents are read, for messages.
    location: str
    #: Whether ``*/list/*`` calls can be answered (a cache cannot).
    can_list: bool

    def get(self, call: str, validate: Validator | None = None) -> Answer:
        """The document for ``call`` (``run/12``, ``run/list/task/31/limit/10000/offset/0``).

        Args:
            call: The API call, relative to the server's ``/api/v1/xml``.
            validate: Parser applied to a successful answer; a ``DataError`` from it counts
                as a failed attempt (truncated or garbled bodies are fetched again).

        Raises:
            SourceUnavailableError: The server did not answer usefully after the attempts.
            CollectorError: The server refused the call (for example, a missing API key).
            DataError: The document stayed unreadable after the attempts.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def host_of(server: str) -> str:
    """The host (and port) of a server URL: the identity of an OpenML source."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"OpenML server {server!r} is not an http(s) URL; use e.g. {DEFAULT_SERVER}"
        )
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def default_server() -> str:
    """openml-python's configured server (``openml.config.server``)."""
    try:
        import openml
    except ImportError:  # pragma: no cover - openml is a dependency
        return DEFAULT_SERVER
    return str(openml.config.server or DEFAULT_SERVER)


def default_apikey() -> str | None:
    """openml-python's configured API key, if any (reads need none)."""
    try:
        import openml
    except ImportError:  # pragma: no cover
        return None
    return str(openml.config.apikey) if openml.config.apikey else None


class ServerSource:
    """An OpenML server over HTTP, with a timeout and bounded retries on every call.

    Example:
        >>> source = ServerSource("https://www.openml.org/api/v1/xml")  # doctest: +SKIP
        >>> source.get("task/31")[:40]  # doctest: +SKIP
    """

    can_list = True

    def __init__(
        self,
        server: str,
        *,
        apikey: str | None = None,
        retries: int = 3,
        timeout: float = 30.0,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = 256 * 2**20,
    ) -> None:
        import requests

        self.server = server.rstrip("/")
        self.uri = host_of(self.server)
        self.location = self.server
        self._apikey = apikey
        self._retries = max(1, retries)
        self._timeout = timeout  # a total deadline per attempt, not per socket read
        self._max_bytes = max_bytes
        self._backoff = backoff
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "mileage (openml-python compatible)"
        self.calls = 0

    def close(self) -> None:
        self._session.close()

    def get(self, call: str, validate: Validator | None = None) -> Answer:
        import requests

        url = f"{self.server}/{call}".replace("=", "%3d")
        params: dict[str, Any] | None = {"api_key": self._apikey} if self._apikey else None
        last = "no attempt made"
        for attempt in range(1, self._retries + 1):
            self.calls += 1
            try:
                response = fetch_within(
                    lambda: self._session.get(
                        url, params=params, timeout=self._timeout, stream=True
                    ),
                    deadline=self._timeout,
                    max_bytes=self._max_bytes,
                )
            except (requests.Timeout, DeadlineExceededError):
                last = f"no complete answer within {self._timeout:g}s"
            except ResponseTooLargeError as exc:
                raise DataError(
                    f"OpenML server {self.server} answered {call} with {exc}, more than "
                    f"MILEAGE_HTTP_MAX_RESPONSE_BYTES={self._max_bytes}; raise it if the "
                    "answer is expected to be that large."
                ) from None
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                answer = self._interpret(call, response.status, response.body, validate)
                if not isinstance(answer, _Retry):
                    return answer
                last = answer.reason
            if attempt < self._retries:
                self._sleep(self._backoff * 2 ** (attempt - 1))
        if last.startswith("unreadable answer"):
            raise DataError(
                f"OpenML server {self.server}: {call} stayed unreadable after {self._retries} "
                f"attempts ({last})"
            )
        raise SourceUnavailableError(
            f"OpenML server {self.server} did not answer {call} after {self._retries} "
            f"attempts ({last})"
        )

    def _interpret(
        self, call: str, status: int, body: bytes, validate: Validator | None
    ) -> Answer | _Retry:
        if status == 200:
            try:
                text = body.decode("utf-8")
                if validate is not None:
                    validate(text)
            except (UnicodeDecodeError, DataError) as exc:
                return _Retry(f"unreadable answer: {str(exc)[:200]}")
            return text
        error = parse_error(body)
        if status >= 500 or status == 429 or (error and error.code in _RETRYABLE_CODES):
            detail = f": {error.message[:120]}" if error else ""
            return _Retry(f"HTTP {status}{detail}")
        if error and error.code in _AUTH_CODES:
            raise CollectorError(
                f"OpenML server {self.server} refused {call}: {error.message} (code {error.code}); "
                "set an API key with 'openml configure apikey' or in ~/.config/openml/config."
            )
        if error:
            return NoResult(call, f"{error.message} (code {error.code})")
        if status == 404:
            return NoResult(call, "HTTP 404")
        raise CollectorError(
            f"OpenML server {self.server} answered {call} with HTTP {status} and no OpenML error "
            f"document ({body[:120]!r}); is {self.server} an OpenML API URL (…/api/v1/xml)?"
        )


@dataclass(frozen=True)
class _Retry:
    reason: str


def find_host_folders(root: Path) -> dict[str, Path]:
    """Host folders of an openml-python cache below ``root`` (host -> folder).

    openml-python keeps one folder per server, named by the reversed host
    (``org/openml/www`` for www.openml.org, ``1:8765/0/0/127`` for 127.0.0.1:8765).
    """
    out: dict[str, Path] = {}
    level = [root]
    for _ in range(5):
        below = []
        for folder in level:
            if _is_host_folder(folder):  # do not descend into runs/<id>/...
                out[".".join(reversed(folder.relative_to(root).parts))] = folder
                continue
            below.extend(sorted(p for p in folder.iterdir() if p.is_dir()))
        level = below
    return out


def _is_host_folder(folder: Path) -> bool:
    """Whether ``folder`` holds openml-python cache entries (``runs/<id>/``, ``api/v1/xml``)."""
    if (folder / "api" / "v1" / "xml").is_dir():
        return True
    for name in _HOST_FOLDERS:
        sub = folder / name
        if sub.is_dir() and any(p.is_dir() and p.name.lstrip("-").isdigit() for p in sub.iterdir()):
            return True
    return False


class CacheSource:
    """A folder in openml-python's cache layout, read only (XML files only)."""

    can_list = False

    def __init__(self, folder: Path, *, server: str | None = None) -> None:
        folder = folder.expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(
                f"OpenML cache folder {str(folder)!r} does not exist; pass the folder openml-python "
                "caches into (openml.config.get_cache_directory(), e.g. ~/.cache/openml)."
            )
        hosts = find_host_folders(folder)
        wanted = host_of(server) if server else None
        if wanted is not None and wanted in hosts:
            host, path = wanted, hosts[wanted]
        elif len(hosts) == 1:
            host, path = next(iter(hosts.items()))
        elif not hosts:
            raise ConfigError(
                f"OpenML cache folder {str(folder)!r} holds no runs/, flows/, setups/, tasks/ or "
                "datasets/ folder at any depth up to 4; pass the root of an openml-python cache."
            )
        else:
            raise ConfigError(
                f"OpenML cache folder {str(folder)!r} holds several servers "
                f"({', '.join(sorted(h or '<this folder>' for h in hosts))}); choose one with "
                "--server (its URL) or pass that server's folder."
            )
        self.folder = path
        self.uri = host or wanted or f"cache:{path}"
        self.location = str(path)
        self.reads = 0

    def close(self) -> None:
        return None

    def get(self, call: str, validate: Validator | None = None) -> Answer:
        path = self._path(call)
        if path is None or not path.is_file():
            return NoResult(call, f"not in the cache folder {self.location}")
        self.reads += 1
        try:
            return path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"cached {call} ({path}): not UTF-8 ({exc.reason})") from None

    def _path(self, call: str) -> Path | None:
        response = self.folder / "api" / "v1" / "xml" / call / "body.xml"
        if ".." not in call.split("/") and response.is_file():
            return response
        match = _OBJECT_CALL.match(call)
        if match is None:
            return None
        folder, name = _CACHE_FILES[match.group(1)]
        return self.folder / folder / match.group(2) / name


class ChainSource:
    """A cache folder first, then a server for what the cache does not hold."""

    can_list = True

    def __init__(self, cache: CacheSource, server: ServerSource) -> None:
        self.cache = cache
        self.server = server
        self.uri = server.uri
        self.location = f"{cache.location} then {server.location}"

    def close(self) -> None:
        self.server.close()

    def get(self, call: str, validate: Validator | None = None) -> Answer:
        answer = self.cache.get(call, validate)
        if isinstance(answer, str):
            return answer
        return self.server.get(call, validate)


__all__ = [
    "DEFAULT_SERVER",
    "Answer",
    "CacheSource",
    "ChainSource",
    "NoResult",
    "OpenmlSource",
    "ServerSource",
    "default_apikey",
    "default_server",
    "find_host_folders",
    "host_of",
]
