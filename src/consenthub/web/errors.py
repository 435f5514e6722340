"""Error responses: the seed's body (``code``, ``message``, ``errorCategory``,
``statusCode``, ``korrelasjonsId``) everywhere, plus RFC 6749 §5.2's ``error`` /
``error_description`` where the error has an OAuth name, and the fields that
failed validation with the rule each broke.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from consenthub.domain.errors import error
from consenthub.observability import correlation_id
from consenthub.web.responses import JSONResponse

log = logging.getLogger("consenthub.http")


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str


@dataclass
class ApiError(Exception):
    code: str
    detail: str | None = None
    fields: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def preferred_language(accept_language: str | None) -> str:
    """``nb`` for Norwegian-preferring clients, else ``en`` (messages exist in both)."""
    if not accept_language:
        return "en"
    best, best_q = "en", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in ("nb", "nn", "no", "en") and q > best_q:
            best, best_q = ("en" if primary == "en" else "nb"), q
    return best


def error_body(
    code: str, language: str, detail: str | None = None, fields: list[FieldError] | None = None
) -> dict[str, Any]:
    spec = error(code)
    message = spec.message(language)
    body: dict[str, Any] = {
        "code": spec.code,
        "message": f"{message}: {detail}" if detail else message,
        "errorCategory": spec.category.value,
        "statusCode": spec.status,
        "korrelasjonsId": correlation_id.get(),
    }
    if spec.oauth_error:
        body["error"] = spec.oauth_error
        body["error_description"] = body["message"]
    if fields:
        body["errors"] = [{"field": item.field, "rule": item.rule} for item in fields]
    return body


def error_response(request: Request, exc: ApiError) -> JSONResponse:
    language = preferred_language(request.headers.get("accept-language"))
    body = error_body(exc.code, language, exc.detail, exc.fields)
    log.info(
        "request rejected",
        extra={
            "code": exc.code,
            "status": body["statusCode"],
            "method": request.method,
            "path": request.url.path,
            "fields": [item.field for item in exc.fields] or None,
        },
    )
    headers = {"Cache-Control": "no-store", **exc.headers}
    return JSONResponse(body, status_code=body["statusCode"], headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [FieldError(_location(tuple(item["loc"])), str(item["msg"])) for item in exc.errors()]
    return error_response(request, ApiError("CH2001", fields=fields))


_HTTP_CODES = {404: "CH2002", 405: "CH2003"}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Kept: a 405 carries the ``Allow`` header RFC 9110 §15.5.6 requires.
    return error_response(
        request,
        ApiError(_HTTP_CODES.get(exc.status_code, "CH2001"), headers=dict(exc.headers or {})),
    )
