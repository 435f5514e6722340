"""The composition root: the ASGI application with every process's routes."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from consenthub import (
    __version__,
    access_updates,
    authorization_requests,
    consent,
    data_api,
    login,
    portal,
    token_service,
    url_access,
)
from consenthub.config import Settings
from consenthub.domain.clock import Clock, system_clock
from consenthub.domain.errors import DomainError
from consenthub.services import build_services
from consenthub.store.database import Database
from consenthub.store.migrate import is_current
from consenthub.web.context import STRICT_TRANSPORT, RequestContext, metrics_access
from consenthub.web.direct import ConsentHub
from consenthub.web.errors import (
    domain_error_handler,
    http_error_handler,
    validation_error_handler,
)
from consenthub.web.responses import JSONResponse
from consenthub.web.server import LimitedHttpToolsProtocol
from consenthub.web.sessions import ServerSessions

STATIC = Path(__file__).parent / "web" / "static"
# Swagger UI and ReDoc as the fastapi-offline package ships them (docs/decisions.md, "API
# docs offline"): the docs pages load nothing from another host.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/static/docs"
# The HTTP/1.1 protocol `consenthub serve` gives uvicorn: its limits (web/server.py).
HTTP_PROTOCOL = LimitedHttpToolsProtocol
# The periodic jobs of processes, run by the worker besides its own.
DUE_WORK = consent.DUE_WORK
# Every process, each with its routers, its directly served routes and (where end users
# decide its requests in Min side) its decision flow.
PROCESSES = (
    token_service,
    data_api,
    url_access,
    access_updates,
    authorization_requests,
    consent,
    login,
    portal,
)


def _lifespan(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """With ``CONSENTHUB_WORKER_IN_SERVER`` (the demo), the worker runs in the server's
    event loop; a deployment runs ``consenthub worker`` processes instead."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub = app.state.services
        if not hub.settings.worker_in_server:
            yield
            return
        # Imported only here: a server without the worker does not load it and its HTTP
        # client (aiohttp, ~8 MB of a worker process that the memory goal counts).
        from consenthub.worker import Worker

        runner = Worker(hub, due_jobs=DUE_WORK)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run_forever(stop))
        try:
            yield
        finally:
            stop.set()
            await task
            await runner.close()

    return lifespan(app)


def _add_docs_pages(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` on the assets served from ``DOCS_ASSETS``."""
    title = f"{app.title} API"
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
            oauth2_redirect_url=oauth2_redirect,
            # Swagger UI would otherwise ask validator.swagger.io about the document.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            redoc_js_url=f"{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    *,
    clock: Clock = system_clock,
) -> ConsentHub:
    settings = settings or Settings()
    app = ConsentHub(
        title="consenthub",
        version=__version__,
        description="Consent and third-party access service for data hubs. "
        "Token service (seed 004), data API (SPEC §8).",
        default_response_class=JSONResponse,
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = build_services(settings, database, clock=clock)
    if settings.base_url.startswith("https://"):
        app.extra_headers = (STRICT_TRANSPORT,)
    app.state.decision_flows = {
        flow.process: flow for process in PROCESSES for flow in process.DECISION_FLOWS
    }
    app.state.token_extensions = consent.TOKEN_EXTENSIONS
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    for process in PROCESSES:
        for router in process.ROUTERS:
            app.include_router(router)
    # Before "/static", which would otherwise take these paths.
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs_pages(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database reachable and schema current",
        responses={
            503: {
                "description": "Not ready: the checks say why",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            checks["database"] = (
                "ok"
                if await run_in_threadpool(is_current, request.app.state.services.database)
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
    async def metrics(request: Request) -> Response:
        metrics_access(
            settings,
            request.client.host if request.client else None,
            request.headers.get("authorization"),
        )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        ServerSessions,
        max_age=settings.session_max_age_seconds,
        secure=settings.secure_cookies,
    )
    app.add_middleware(RequestContext, extra_headers=app.extra_headers)
    for process in PROCESSES:
        for route in process.DIRECT_ROUTES:
            app.serve_directly(route)
    return app


def create_served_app() -> ConsentHub:
    """The application as ``consenthub serve`` runs it (uvicorn's factory, called in each
    server process): ``create_app``, then the objects it and the imports left are frozen
    out of the garbage collector's full collections (``gc.freeze``). They live as long
    as the process, and a full collection walked all ~150,000 of them (~0.1 s of CPU):
    a BRS-NO-622 message of 10,000 items keeps enough objects alive at once to set off
    one or two, a message of 1,000 none (docs/performance.md). Garbage made later is
    collected as before."""
    app = create_app()
    gc.collect()
    gc.freeze()
    return app
