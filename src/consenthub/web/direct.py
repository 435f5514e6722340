"""The short way in for the hot machine-to-machine endpoints (``POST /sts/Token`` and the
data API's reads): no routing table, dependency injection or middleware besides
``RequestContext``. Measured in BENCHMARKS.md (token and data-read rows); see
docs/decisions.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from consenthub.domain.errors import DomainError
from consenthub.web.context import RequestContext
from consenthub.web.errors import error_response
from consenthub.web.pages import PAGE


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
        """FastAPI's document, plus the bearer scheme that direct routes name, and the
        error answers every operation can give (``document_errors``)."""
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /sts/Token",
        }
        components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        paths = schema.setdefault("paths", {})
        for route in _api_routes(self.routes):
            if PAGE in (route.openapi_extra or {}):
                for method in route.methods or ():
                    paths.setdefault(route.path, {})[method.lower()] = page_operation(route)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                document_errors(path, operation)
        return schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self._direct_endpoint(scope) if scope["type"] == "http" else None
        if direct is not None:
            scope["app"] = self
            await direct(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# The body of every error answer (web/errors.py ``error_body``; docs/errors.md).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message", "errorCategory", "statusCode", "korrelasjonsId"],
    "properties": {
        "code": {"type": "string", "description": "docs/errors.md", "examples": ["CH2001"]},
        "message": {"type": "string"},
        "errorCategory": {"type": "string"},
        "statusCode": {"type": "integer"},
        "korrelasjonsId": {"type": ["string", "null"], "format": "uuid"},
        "error": {"type": "string", "description": "RFC 6749 §5.2 / RFC 6750 §3.1"},
        "error_description": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "rule"],
                "properties": {"field": {"type": "string"}, "rule": {"type": "string"}},
            },
        },
    },
}
_ERRORS = {
    400: "Bad input: the fields and rules it broke",
    401: "No valid credentials",
    403: "The credentials do not allow this",
    404: "No such resource, or none the caller may see",
    413: "The body is larger than the documented maximum",
    415: "The body's media type is not one this operation takes",
    429: "Too many failed client authentications: wait Retry-After seconds",
}


def _error_answer(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answer


def document_errors(path: str, operation: dict[str, Any]) -> None:
    """The error answers an operation gives, with the one error body. FastAPI's 422
    is never sent (validation errors are 400, ``web/errors.py``), so it goes (a 422 an
    operation declares itself stays); every
    ``/api/v1`` operation takes a bearer token; a JSON ``200`` without a declared
    schema is an object. An operation's own declarations are kept."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    generated = responses.get("422", {}).get("content", {}).get("application/json", {})
    if generated.get("schema") == {"$ref": "#/components/schemas/HTTPValidationError"}:
        responses.pop("422")
    if path.startswith("/api/v1/"):
        operation.setdefault("security", [{"bearer": []}])
    statuses: set[int] = set()
    if operation.get("parameters") or "requestBody" in operation or path.startswith("/sts/"):
        statuses.add(400)
    if operation.get("security") or path.startswith("/sts/"):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {413, 415}
    if path.startswith("/sts/"):
        statuses.add(429)
    for status in sorted(statuses):
        responses.setdefault(str(status), _error_answer(status))
    for answer in responses.values():
        json = answer.get("content", {}).get("application/json")
        if json is not None and json.get("schema") in (None, {}, {"type": "string"}):
            json["schema"] = {"type": "object"}


_HTML = {"text/html": {"schema": {"type": "string"}}}


def page_operation(route: APIRoute) -> dict[str, Any]:
    """A page's operation: its parameters, the page, the redirects it answers with (to
    the login, the decision page or the third party) and its error pages."""
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": required,
            "schema": {"type": "string"},
            "description": description,
        }
        for name, required, description in (route.openapi_extra or {})[PAGE]
    ]
    return {
        "tags": ["pages"],
        "summary": route.summary or route.name,
        "description": route.description or "",
        "operationId": f"page_{route.name}",
        "parameters": parameters,
        "responses": {
            "200": {"description": "The page", "content": _HTML},
            "303": {"description": "On to the login, the next page or the third party"},
            "400": {"description": "An error page naming what is wrong", "content": _HTML},
            "404": {"description": "An error page: no such request", "content": _HTML},
            "503": {
                "description": "An error page: the login provider is unreachable",
                "content": _HTML,
            },
        },
    }


def _api_routes(routes: Any) -> Iterator[APIRoute]:
    """Every API route, in included routers too (included without a prefix, as
    ``app.create_app`` includes them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)
