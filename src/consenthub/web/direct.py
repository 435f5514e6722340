"""The short way in for the hot machine-to-machine endpoints (``POST /sts/Token`` and the
data API's reads): no routing table, dependency injection or middleware besides
``RequestContext``. Measured in BENCHMARKS.md (token and data-read rows); see
docs/decisions.md.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from consenthub.domain.errors import DomainError
from consenthub.web.context import RequestContext
from consenthub.web.errors import error_response


class DirectEndpoint:
    """An API route's endpoint called straight from ASGI: no routing table, dependency
    injection or middleware besides ``RequestContext``. For endpoints that take only the
    request and raise ``DomainError`` for every expected failure."""

    def __init__(self, route: APIRoute) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        request = Request(scope, receive)
        try:
            response = await self.route.endpoint(request)
        except DomainError as exc:
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
        # Headers every answer carries besides its own (``RequestContext``).
        self.extra_headers: tuple[tuple[bytes, bytes], ...] = ()
        self._direct: dict[tuple[str, str], ASGIApp] = {}
        self._direct_patterns: list[tuple[str, re.Pattern[str], ASGIApp]] = []

    def serve_directly(self, route: APIRoute) -> None:
        """Answer ``route`` (already included) directly; see the class docstring."""
        endpoint = RequestContext(DirectEndpoint(route), self.extra_headers)
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
