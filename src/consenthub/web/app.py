"""The ASGI application: routers, error handlers, correlation ids, health and metrics."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consenthub import __version__
from consenthub.config import Settings
from consenthub.data_api.handler import direct_routes as data_direct_routes
from consenthub.data_api.handler import router as data_router
from consenthub.observability import HTTP_LATENCY, HTTP_REQUESTS, correlation_id
from consenthub.portal.handler import router as portal_router
from consenthub.portal.login import router as login_router
from consenthub.services import Services, services
from consenthub.store.database import Database
from consenthub.store.migrate import is_current
from consenthub.third_party_access.handler import api_router as third_party_access_api
from consenthub.third_party_access.handler import router as third_party_access_pages
from consenthub.token_service.handler import router as sts_router
from consenthub.token_service.handler import token_route
from consenthub.web.errors import (
    ApiError,
    api_error_handler,
    error_body,
    error_response,
    http_error_handler,
    preferred_language,
    validation_error_handler,
)
from consenthub.web.pages import PageError, page_error_handler
from consenthub.web.responses import JSONResponse

STATIC = Path(__file__).parent / "static"

log = logging.getLogger("consenthub.http")

# nginx's status for a request whose client hung up before the answer: counted in the
# metrics like any status, but never sent (docs/decisions.md).
CLIENT_CLOSED_REQUEST = 499


class RequestContext:
    """Correlation id per request (``X-Correlation-ID``), metrics, and the last safety net:
    an unexpected exception is logged with its trace and answered ``EH111``, never a trace.
    A client that hung up mid-request is logged at INFO and counted as ``499``."""

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
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if not response_started:
                headers = dict(
                    (k.decode().lower(), v.decode()) for k, v in scope.get("headers", [])
                )
                body = error_body("EH111", preferred_language(headers.get("accept-language")))
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            requests, latency = _metrics(scope["method"], route, status)
            requests.inc()
            latency.observe(time.perf_counter() - started)
            correlation_id.reset(token)


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


class DirectEndpoint:
    """An API route's endpoint called straight from ASGI: no routing table, dependency
    injection or middleware besides ``RequestContext``. For endpoints that take only the
    request and raise ``ApiError`` for every expected failure."""

    def __init__(self, route: APIRoute) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        request = Request(scope, receive)
        try:
            response = await self.route.endpoint(request)
        except ApiError as exc:
            response = error_response(request, exc)
        await response(scope, receive, send)


class ConsentHub(FastAPI):
    """FastAPI with a short way in for the hot machine-to-machine endpoints.

    ``POST /sts/Token`` and the data API's reads are called by third-party systems
    all day; their own work (a client check from memory and one ES256 signature; one
    transaction) is of the size of FastAPI's per-request machinery, which the way in
    skips (BENCHMARKS.md). Such an endpoint takes only the request and reads its own
    parameters. Its route stays registered with FastAPI, as the one definition and for
    the OpenAPI document.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._direct: dict[tuple[str, str], ASGIApp] = {}
        self._direct_patterns: list[tuple[str, re.Pattern[str], ASGIApp]] = []

    def serve_directly(self, route: APIRoute) -> None:
        """Answer ``route`` (already included) directly; see the class docstring."""
        endpoint = RequestContext(DirectEndpoint(route))
        for method in route.methods or ():
            if route.param_convertors:
                self._direct_patterns.append((method, route.path_regex, endpoint))
            else:
                self._direct[(method, route.path)] = endpoint

    def _direct_endpoint(self, scope: Scope) -> ASGIApp | None:
        method, path = scope["method"], scope["path"]
        found = self._direct.get((method, path))
        if found is not None:
            return found
        for pattern_method, pattern, endpoint in self._direct_patterns:
            match = pattern.match(path) if pattern_method == method else None
            if match:
                scope["path_params"] = match.groupdict()
                return endpoint
        return None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, plus the bearer scheme that direct routes name."""
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /sts/Token",
        }
        return schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self._direct_endpoint(scope) if scope["type"] == "http" else None
        if direct is not None:
            scope["app"] = self
            await direct(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    app = ConsentHub(
        title="consenthub",
        version=__version__,
        description="Consent and third-party access service for data hubs. "
        "Token service (seed 004), data API (SPEC §8).",
        default_response_class=JSONResponse,
    )
    app.state.services = Services.create(settings, database)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(PageError, page_error_handler)
    app.include_router(sts_router)
    app.include_router(data_router)
    app.include_router(third_party_access_api)
    app.include_router(third_party_access_pages)
    app.include_router(login_router)
    app.include_router(portal_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz", tags=["operations"], summary="Readiness: database reachable and schema current"
    )
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            checks["database"] = (
                "ok"
                if await run_in_threadpool(is_current, services(request).database)
                else "schema not current"
            )
        except Exception as exc:  # any driver error means not ready
            checks["database"] = f"unreachable: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(settings),
        session_cookie="consenthub_session",
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(RequestContext)
    for route in (token_route, *data_direct_routes):
        app.serve_directly(route)
    return app


def session_key(settings: Settings) -> str:
    """A key of its own for signing session cookies, derived from the hub secret key."""
    return hmac.new(
        settings.resolved_secret_key(), b"consenthub session cookies", hashlib.sha256
    ).hexdigest()
