"""How a ``DomainError`` looks on the wire, derived from its code in one place.

- API answers: the seed's body (``code``, ``message``, ``errorCategory``, ``statusCode``,
  ``korrelasjonsId``) plus RFC 6749 §5.2's ``error`` / ``error_description`` where the
  code has an OAuth name, and ``errors: [{field, rule}]`` for the fields that failed;
  the status from the catalog; ``WWW-Authenticate`` (RFC 6750 §3, RFC 7617) and
  ``Retry-After`` from what the error says.
- Pages: ``web/pages.py`` renders the same error as a page (``error_page``).
- The error of a BRS-NO-624 return message: ``return_message_error``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from consenthub.domain.errors import AuthScheme, Code, DomainError, FieldError, error
from consenthub.observability import correlation_id
from consenthub.web.responses import JSONResponse

log = logging.getLogger("consenthub.http")

REALM = 'realm="consenthub"'


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
    code: str, language: str, detail: str | None = None, fields: tuple[FieldError, ...] = ()
) -> dict[str, Any]:
    spec = error(code)
    message = spec.message(language)
    body: dict[str, Any] = {
        "code": spec.code.value,
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


def _quoted(value: str) -> str:
    return value.replace("\\", "").replace('"', "'")[:100]


def response_headers(exc: DomainError) -> dict[str, str]:
    """``WWW-Authenticate`` for a challenge (RFC 6750 §3: the error and, for
    ``insufficient_scope``, the scope needed; none on a request without credentials),
    ``Retry-After`` for a throttled request."""
    headers = {"Cache-Control": "no-store"}
    spec = exc.spec
    if exc.challenge is AuthScheme.BEARER:
        value = f"Bearer {REALM}"
        if spec.oauth_error:
            value += f', error="{spec.oauth_error}"'
            value += f', error_description="{_quoted(exc.detail or spec.message_en)}"'
        if exc.scope:
            value += f', scope="{exc.scope}"'
        headers["WWW-Authenticate"] = value
    elif exc.challenge is AuthScheme.BASIC:
        headers["WWW-Authenticate"] = f"Basic {REALM}"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return headers


def error_response(
    request: Request, exc: DomainError, headers: dict[str, str] | None = None
) -> JSONResponse:
    language = preferred_language(request.headers.get("accept-language"))
    body = error_body(exc.code, language, exc.detail, exc.fields)
    log.info(
        "request rejected",
        extra={
            "code": exc.code.value,
            "status": body["statusCode"],
            "method": request.method,
            "path": request.url.path,
            "fields": [item.field for item in exc.fields] or None,
        },
    )
    return JSONResponse(
        body, status_code=body["statusCode"], headers=response_headers(exc) | (headers or {})
    )


def return_message_error(code: Code) -> dict[str, str]:
    """``error: {code, message}`` of a BRS-NO-624 return message: the seed's Norwegian
    wording, as Elhub sends it."""
    spec = error(code)
    return {"code": spec.code.value, "message": spec.message_nb}


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(request, exc)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [FieldError(_location(tuple(item["loc"])), str(item["msg"])) for item in exc.errors()]
    return error_response(request, DomainError(Code.INVALID_FIELDS, fields=fields))


_HTTP_CODES = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Kept: a 405 carries the ``Allow`` header RFC 9110 §15.5.6 requires.
    return error_response(
        request,
        DomainError(_HTTP_CODES.get(exc.status_code, Code.INVALID_FIELDS)),
        dict(exc.headers or {}),
    )
