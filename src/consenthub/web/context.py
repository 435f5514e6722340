"""The request context every HTTP request runs in: correlation id, metrics, last safety net."""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import random
import time
import uuid
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consenthub.config import Settings
from consenthub.domain.errors import AuthScheme, Code, DomainError
from consenthub.domain.identifiers import uuid4_text
from consenthub.observability import HTTP_LATENCY, HTTP_REQUESTS, correlation_id
from consenthub.store.database import is_unavailable, unavailable
from consenthub.web.errors import error_body, preferred_language, response_headers
from consenthub.web.responses import JSONResponse

log = logging.getLogger("consenthub.http")

# nginx's status for a request whose client hung up before the answer: counted in the
# metrics like any status, but never sent (docs/decisions.md).
CLIENT_CLOSED_REQUEST = 499


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_STATIC_CACHE = (b"cache-control", b"public, max-age=3600")
# HSTS for a hub whose base URL is https (RFC 6797): a year, its subdomains included.
STRICT_TRANSPORT = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class RequestContext:
    """Correlation id per request (``X-Correlation-ID``), metrics, and the last safety net:
    an unexpected exception is logged with its trace and answered ``EH111``, never a trace.
    A database that cannot be reached, wherever it is met (a middleware's session lookup
    included), is answered ``503`` ``CH5001`` with ``Retry-After`` and logged without a
    trace. A client that hung up mid-request is logged at INFO and counted as ``499``.

    Every answer gets ``X-Content-Type-Options: nosniff`` and a ``Cache-Control`` when it
    has none (``no-store``: API answers, redirects and errors carry personal data or
    one-time state; static assets may be kept an hour), and ``extra_headers`` (HSTS
    when the base URL is https). Headers a response already has are kept, so the token
    endpoint's pre-encoded ones pass through as they are."""

    def __init__(self, app: ASGIApp, extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        self.app = app
        self.extra_headers = list(extra_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Not a secret, so not from the OS's random source (a system call per request).
        cid = _incoming_correlation_id(scope) or uuid4_text(random.getrandbits(128))
        token = correlation_id.set(cid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = self._headers(scope, message.get("headers", ()), cid)
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

    def _headers(
        self, scope: Scope, headers: Iterable[tuple[bytes, bytes]], cid: str
    ) -> list[tuple[bytes, bytes]]:
        answer = [*headers, *self.extra_headers, (b"x-correlation-id", cid.encode())]
        names = {name for name, _ in answer}
        if b"x-content-type-options" not in names:
            answer.append(_NOSNIFF)
        if b"cache-control" not in names:
            static = scope["path"].startswith("/static/")
            answer.append(_STATIC_CACHE if static else _NO_STORE)
        return answer


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


def metrics_access(settings: Settings, client_host: str | None, authorization: str | None) -> None:
    """``/metrics``: with ``metrics_token`` configured, that bearer token from anywhere;
    without, loopback clients only (a local Prometheus agent), and 404 to the rest so
    the endpoint is not advertised."""
    token = settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}"
        if authorization is None:
            raise DomainError(Code.BEARER_TOKEN_MISSING, challenge=AuthScheme.BEARER)
        if not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise DomainError(Code.ACCESS_TOKEN_INVALID, challenge=AuthScheme.BEARER)
        return
    try:
        loopback = client_host is not None and ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise DomainError(Code.NOT_FOUND)
