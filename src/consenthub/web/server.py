"""The HTTP/1.1 protocol ``consenthub serve`` runs: uvicorn's httptools protocol with the
limits it lacks (probe defect 2), enforced before the application sees a request.

- The request line and header fields: at most ``max_header_bytes`` in all and
  ``max_header_count`` fields, else ``431 CH2007``. llhttp keeps a header being read
  in memory until it ends, so the bytes are counted as they arrive, not per field.
- The body: a ``Content-Length`` over ``max_body_bytes`` is ``413 CH2006`` before the
  application runs; a chunked body is cut when it passes the limit.
- Slow clients: the head must arrive within ``header_timeout_seconds`` of the
  connection (or of the previous request's end), the body within
  ``body_timeout_seconds`` of the head, else ``408 CH2008``.

Each refusal closes the connection. The checks are a few integer comparisons per
callback, so the token endpoint's path keeps its speed (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from consenthub.config import Settings
from consenthub.domain.errors import Code, error
from consenthub.web.errors import error_body

_REASONS = {
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
}
_CODES = {408: Code.REQUEST_TIMEOUT, 413: Code.TOO_LARGE, 431: Code.HEADERS_TOO_LARGE}


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int
    max_header_count: int
    max_body_bytes: int
    header_timeout_seconds: float
    body_timeout_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> ServerLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_header_count=settings.max_header_count,
            max_body_bytes=settings.max_body_bytes,
            header_timeout_seconds=settings.header_timeout_seconds,
            body_timeout_seconds=settings.body_timeout_seconds,
        )


@functools.cache
def configured_limits() -> ServerLimits:
    """The limits of this process's configuration (the environment and the config
    file, as the application reads them): a server process with several workers
    builds its protocol from an importable class, so the limits cannot be passed in."""
    return ServerLimits.of(Settings())


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; ``send_400_response`` answers."""


def refusal(status: int) -> bytes:
    """The whole HTTP response of a refusal: the catalog's JSON body, and the end of the
    connection."""
    code = _CODES[status]
    assert error(code).status == status
    body = orjson.dumps(error_body(code, "en") | {"korrelasjonsId": str(uuid.uuid4())})
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"cache-control: no-store\r\nx-content-type-options: nosniff\r\n"
        b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
    )


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring; passed to
    uvicorn as its ``http`` class.

    The limits cost the token endpoint's path little (BENCHMARKS.md): the head's fields
    are counted once it is complete (from the list uvicorn builds, while the bytes of a
    head still arriving are counted as they come), and a deadline is a number set twice
    per request, watched by one timer per connection that fires at most once per
    timeout, rather than a timer made and cancelled three times per request; the fewer
    parser callbacks overridden the better, as each costs a Python call per request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = configured_limits()
        self._refusal = 400
        # Bytes of the head being read; None once it is complete.
        self._head_bytes: int | None = 0
        self._body_bytes = 0
        # When the part being waited for must have arrived (loop time), or None.
        self._deadline: float | None = None
        self._watch: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._head_bytes is not None
            and self._head_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(431)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._body_bytes = 0
        limits = self.limits
        head = len(self.url)
        content_length = None
        for name, value in self.headers:
            head += len(name) + len(value) + 4
            if name == b"content-length":
                content_length = value
        if len(self.headers) > limits.max_header_count or head > limits.max_header_bytes:
            self._refusal = 431
            raise _Refused
        if (
            content_length is not None
            and content_length.isdigit()
            and int(content_length) > limits.max_body_bytes
        ):
            self._refusal = 413
            raise _Refused
        super().on_headers_complete()
        self._arm(limits.body_timeout_seconds)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._refusal = 413
            self._hang_up_on_application()
            raise _Refused
        super().on_body(body)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next head is counted and timed from here (uvicorn reads nothing more while
        # a response is under way).
        self._head_bytes = 0
        if not self.transport.is_closing():
            self._arm(self.limits.header_timeout_seconds)

    def send_400_response(self, msg: str) -> None:
        if self._refusal == 400:
            super().send_400_response(msg)
        else:
            self._refuse(self._refusal)

    def _refuse(self, status: int) -> None:
        self._deadline = None
        self.transport.write(refusal(status))
        self.transport.close()

    def _hang_up_on_application(self) -> None:
        """The application reading this request gets ``http.disconnect``; what it sends
        is dropped."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()

    def _arm(self, seconds: float) -> None:
        deadline = self.loop.time() + seconds
        self._deadline = deadline
        watch = self._watch
        if watch is None or watch.when() > deadline:
            if watch is not None:
                watch.cancel()
            self._watch = self.loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._watch = None
        deadline = self._deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._watch = self.loop.call_at(deadline, self._check_deadline)
            return
        self._too_slow()

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_started:
            return  # the whole request arrived: the application's time is not the client's
        if cycle is not None and cycle.response_started:
            self.transport.close()
            return
        self._hang_up_on_application()
        self._refuse(408)
