"""A total deadline and a size cap for one HTTP call.

``requests`` applies its timeout to each socket read, so a server that sends one byte a
second never times out. :func:`fetch_within` runs the call in a worker thread and waits for
the complete answer until the deadline; past it, the connection is closed when the answer
has started (the worker's read then fails and the thread ends) and the call is abandoned
when it has not (the worker ends when the server gives up; it holds no lock and writes
nothing). Either way the caller gets :class:`DeadlineExceededError` on time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_CHUNK = 1 << 16


class DeadlineExceededError(TimeoutError):
    """The complete answer did not arrive within the deadline."""


class ResponseTooLargeError(ValueError):
    """The answer is larger than the cap."""


@dataclass(frozen=True)
class HttpAnswer:
    """A complete answer: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")


def fetch_within(send: Callable[[], Any], *, deadline: float, max_bytes: int) -> HttpAnswer:
    """Send a request and read its whole answer within ``deadline`` seconds.

    Args:
        send: Sends the request with ``stream=True`` and returns the ``requests.Response``.
        deadline: Seconds from sending to the last byte of the answer.
        max_bytes: Largest body read; a larger one raises.

    Raises:
        DeadlineExceededError: The answer was not complete in time.
        ResponseTooLargeError: The body is larger than ``max_bytes``.
        Exception: Whatever ``send`` raises (connection refused, DNS...).
    """
    outcome: dict[str, Any] = {}
    started = threading.Event()
    done = threading.Event()
    abandoned = threading.Event()

    def work() -> None:
        try:
            response = send()
            outcome["response"] = response
            started.set()
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise ResponseTooLargeError(f"{int(length):,} bytes announced")
            chunks = []
            size = 0
            for chunk in response.iter_content(_CHUNK):
                if abandoned.is_set():
                    return
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLargeError(f"more than {max_bytes:,} bytes")
                chunks.append(chunk)
            outcome["answer"] = HttpAnswer(
                response.status_code, dict(response.headers), b"".join(chunks)
            )
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            response = outcome.get("response")
            if response is not None and "answer" not in outcome:
                response.close()
            done.set()

    worker = threading.Thread(target=work, name="mileage-http", daemon=True)
    worker.start()
    if not done.wait(deadline):
        abandoned.set()
        response = outcome.get("response")
        if response is not None:
            # Unblocks the worker's read so it ends; best effort, the call is abandoned anyway.
            with contextlib.suppress(Exception):
                response.raw.close()
        raise DeadlineExceededError(f"no complete answer within {deadline:g} s")
    if "error" in outcome:
        raise outcome["error"]
    answer: HttpAnswer = outcome["answer"]
    return answer


__all__ = ["DeadlineExceededError", "HttpAnswer", "ResponseTooLargeError", "fetch_within"]
