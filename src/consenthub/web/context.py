"""The request context every HTTP request runs in: correlation id, metrics, last safety net."""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consenthub.domain.errors import Code, DomainError
from consenthub.observability import HTTP_LATENCY, HTTP_REQUESTS, correlation_id
from consenthub.store.database import is_unavailable, unavailable
from consenthub.web.errors import error_body, preferred_language, response_headers
from consenthub.web.responses import JSONResponse

log = logging.getLogger("consenthub.http")

# nginx's status for a request whose client hung up before the answer: counted in the
# metrics like any status, but never sent (docs/decisions.md).
CLIENT_CLOSED_REQUEST = 499


class RequestContext:
    """Correlation id per request (``X-Correlation-ID``), metrics, and the last safety net:
    an unexpected exception is logged with its trace and answered ``EH111``, never a trace.
    A database that cannot be reached, wherever it is met (a middleware's session lookup
    included), is answered ``503`` ``CH5001`` with ``Retry-After`` and logged without a
    trace. A client that hung up mid-request is logged at INFO and counted as ``499``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Not a secret, so not from the OS's random source (a system call per request).
        cid = _incoming_correlation_id(scope) or str(
            uuid.UUID(int=random.getrandbits(128), version=4)
        )
        token = correlation_id.set(cid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up before its request was read: no one to answer, no fault here.
            log.info(
                "client disconnected", extra={"method": scope["method"], "path": scope["path"]}
            )
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
        except Exception as exc:
            down = _store_unavailable(exc)
            if down is None:
                log.exception("unhandled error", extra={"path": scope.get("path")})
            else:
                log.warning("database unavailable", extra={"path": scope.get("path")})
            if not response_started:
                headers = dict(
                    (k.decode().lower(), v.decode()) for k, v in scope.get("headers", [])
                )
                language = preferred_language(headers.get("accept-language"))
                if down is None:
                    body = error_body(Code.EH111, language)
                    response = JSONResponse(body, status_code=500)
                else:
                    body = error_body(down.code, language)
                    response = JSONResponse(
                        body, status_code=body["statusCode"], headers=response_headers(down)
                    )
                await response(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            requests, latency = _metrics(scope["method"], route, status)
            requests.inc()
            latency.observe(time.perf_counter() - started)
            correlation_id.reset(token)


def _store_unavailable(exc: BaseException) -> DomainError | None:
    """The ``CH5001`` error when ``exc`` or what caused it says the database cannot be
    reached (Starlette wraps an error raised while a response starts, e.g. the session
    that could not be stored, in a ``RuntimeError``)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DomainError) and cause.code is Code.STORE_UNAVAILABLE:
            return cause
        if is_unavailable(cause):
            return unavailable()
        cause = cause.__cause__ or cause.__context__
    return None


@functools.lru_cache(maxsize=1024)
def _metrics(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The metric children of one route and status; looking them up by labels on every
    request costs more than the counting."""
    return (
        HTTP_REQUESTS.labels(method, route, str(status)),
        HTTP_LATENCY.labels(method, route),
    )


def _incoming_correlation_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-correlation-id":
            try:
                return str(uuid.UUID(value.decode()))
            except (ValueError, UnicodeDecodeError):
                return None
    return None
