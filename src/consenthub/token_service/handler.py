"""HTTP endpoints of the token service.

- ``POST /sts/Token`` — seed 004 (Helsenorge STS), RFC 6749 §4.4 client credentials
- ``POST /sts/revoke`` — RFC 7009 token revocation
- ``POST /sts/introspect`` — RFC 7662 token introspection
- ``GET /.well-known/oauth-authorization-server`` — RFC 8414 metadata
- ``GET /.well-known/jwks.json`` — RFC 7517 key set
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from consenthub.domain.errors import Code, DomainError
from consenthub.domain.parties import ApiScope
from consenthub.observability import TOKENS_ISSUED
from consenthub.registry import PartyRecord, credentials_from
from consenthub.services import Services
from consenthub.token_service import service
from consenthub.token_service.extensions import TokenExtension
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse, NoStoreJSONResponse

router = APIRouter(tags=["token service"])

# What each scope opens, as the token endpoint's description says; the metadata's
# ``scopes_supported`` names only these.
SCOPES_OPEN = {
    ApiScope.DATA_READ: "the data API: `/api/v1/metering-points…`, `/api/v1/grants…`",
    ApiScope.THIRD_PARTY_ACCESS: "BRS-NO-622/624: `/api/v1/third-party-access/…`",
    ApiScope.AUTHORIZATION_REQUESTS: "DH-831/851: `/api/v1/authorization-requests…`",
    ApiScope.CONSENT: "seed 002: `/api/v1/consent-requests…`",
    ApiScope.INTROSPECT: "`/sts/introspect` of any token, not only the client's own",
}
_SCOPES_TEXT = " ".join(f"`{scope.value}`: {opens}." for scope, opens in SCOPES_OPEN.items())


def _client_auth_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The request body of a ``/sts/*`` operation: form (RFC 6749 Appendix B) or JSON
    (seed 004), the same fields; the client's credentials here or as HTTP Basic."""
    properties = {
        "client_id": {"type": "string", "description": "The party's client id (a UUID)"},
        "client_secret": {"type": "string"},
        **fields,
    }
    body = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": body},
                "application/json": {"schema": body},
            },
        }
    }


_TOKEN_BODY = _client_auth_body(
    {
        "grant_type": {
            "type": "string",
            "enum": ["client_credentials", "authorization_code"],
            "description": "authorization_code: an Altinn consent code (seed 002)",
        },
        "scope": {"type": "string", "description": "Space-separated scopes"},
        "code": {"type": "string", "description": "With grant_type=authorization_code"},
        "authorization_details": {
            "type": "string",
            "description": "RFC 9396: a JSON list of one object (a fresh consent token)",
        },
    },
    ["grant_type"],
)
_TOKEN_ANSWER = {
    "type": "object",
    "required": ["access_token", "expires_in", "token_type"],
    "properties": {
        "access_token": {"type": "string", "description": "A JWT (RFC 9068)"},
        "expires_in": {"type": "integer"},
        "token_type": {"type": "string"},
        "scope": {"type": "string"},
    },
}
_TOKEN_BODY_ONLY = _client_auth_body(
    {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string"},
    },
    ["token"],
)


def _json_answer(schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


_MAX_BODY = 16 * 1024


async def _body(request: Request) -> bytes:
    """The whole body, refused while it is read once it passes ``_MAX_BODY``. Read from
    ASGI directly: Starlette's ``stream()`` adds an async generator to every token."""
    body = b""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > _MAX_BODY:
            raise DomainError(Code.TOKEN_REQUEST_INVALID, f"body larger than {_MAX_BODY} bytes")
        if not message.get("more_body", False):
            return body


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` (RFC 6749 Appendix B), strictly: every
    pair has its ``=``. As ``parse_qsl(strict_parsing=True)``, at half its cost."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "body is not valid form encoding") from None
    # A body with neither escapes nor '+' (as most are) has no pair to decode.
    escaped = "%" in text or "+" in text
    pairs = []
    for part in text.split("&") if text else ():
        name, equals, value = part.partition("=")
        if not equals:
            raise DomainError(Code.TOKEN_REQUEST_INVALID, "body is not valid form encoding")
        pairs.append((unquote_plus(name), unquote_plus(value)) if escaped else (name, value))
    return pairs


async def read_params(request: Request) -> dict[str, str]:
    """Body as form (RFC 6749 Appendix B) or JSON (seed 004); each parameter at most once."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _body(request)
    if content_type == "application/x-www-form-urlencoded":
        pairs = _form_pairs(body)
    elif content_type == "application/json":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise DomainError(Code.TOKEN_REQUEST_INVALID, "body is not valid JSON") from None
        if not isinstance(document, dict) or not all(
            isinstance(value, str) for value in document.values()
        ):
            raise DomainError(
                Code.TOKEN_REQUEST_INVALID, "body must be a JSON object of string values"
            )
        pairs = list(document.items())
        # orjson keeps the last of a repeated key silently. Every key and string value
        # brings two quotes, so a key given twice makes more than four a member; only
        # such a body (or one with an escaped quote) is read again, keeping every pair.
        if body.count(b'"') != 4 * len(document):
            pairs = json.loads(body, object_pairs_hook=list)
    else:
        raise DomainError(Code.MEDIA_TYPE_UNSUPPORTED)
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise DomainError(Code.TOKEN_REQUEST_INVALID, f"parameter {name} given more than once")
        params[name] = value
    return params


def _remote(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _authenticate(hub: Services, request: Request, params: dict[str, str]) -> PartyRecord:
    """Client authentication; a known client with a fresh cache entry is answered
    without leaving the event loop."""
    credentials = credentials_from(params, request.headers.get("authorization"))
    clients = hub.clients
    remote = _remote(request)
    party = clients.from_cache(credentials, remote)
    if party is None:
        party = await run_in_threadpool(clients.authenticate, credentials, remote)
    return party


@router.post(
    "/sts/Token",
    summary="Issue an access token (client credentials)",
    description="Seed 004: body as application/x-www-form-urlencoded or application/json "
    "with grant_type=client_credentials, client_id, client_secret and optional scope; "
    "HTTP Basic client authentication accepted too. Scopes (a party gets those of its "
    f"roles): {_SCOPES_TEXT}",
    openapi_extra=_TOKEN_BODY,
    responses=_json_answer(_TOKEN_ANSWER, "The access token"),
)
async def token(request: Request) -> JSONResponse:
    params = await read_params(request)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "grant_type is required")
    if grant_type != "client_credentials":
        return await _extension_grant(request, params, grant_type)
    hub = services(request)
    party = await _authenticate(hub, request, params)
    if "authorization_details" in params:
        return await _authorization_details(request, hub, party, params["authorization_details"])
    await hub.keys.ready()
    issued = service.issue(hub, party, params.get("scope"))
    TOKENS_ISSUED.inc()
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
        "token_type": "bearer",
    }
    if params.get("scope"):
        body["scope"] = issued.scope
    return NoStoreJSONResponse(body)


def _extensions(request: Request) -> tuple[TokenExtension, ...]:
    extensions: tuple[TokenExtension, ...] = request.app.state.token_extensions
    return extensions


async def _extension_grant(
    request: Request, params: dict[str, str], grant_type: str
) -> JSONResponse:
    """A grant another process answers (Altinn consent: ``authorization_code``), with the
    same client authentication as client credentials; an unknown grant type is refused
    before client authentication."""
    extension = next(
        (found for found in _extensions(request) if found.grant_type == grant_type), None
    )
    if extension is None:
        raise DomainError(Code.GRANT_TYPE_UNSUPPORTED, grant_type)
    hub = services(request)
    party = await _authenticate(hub, request, params)
    await hub.keys.ready()
    body = await extension.issue_from_grant(hub, party, params)
    TOKENS_ISSUED.inc()
    return NoStoreJSONResponse(body)


async def _authorization_details(
    request: Request, hub: Services, party: PartyRecord, text: str
) -> JSONResponse:
    """Client credentials with RFC 9396 ``authorization_details``: one entry, of a type a
    process answers (Altinn consent: a fresh token for a live consent)."""
    try:
        details = orjson.loads(text)
    except orjson.JSONDecodeError:
        details = None
    if (
        not isinstance(details, list)
        or len(details) != 1
        or not isinstance(details[0], dict)
        or not isinstance(details[0].get("type"), str)
    ):
        raise DomainError(
            Code.TOKEN_REQUEST_INVALID, "authorization_details must be a list of one object"
        )
    extension = next(
        (
            found
            for found in _extensions(request)
            if found.authorization_details_type == details[0]["type"]
        ),
        None,
    )
    if extension is None:
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "unknown authorization_details type")
    await hub.keys.ready()
    body = await extension.issue_from_details(hub, party, details[0])
    TOKENS_ISSUED.inc()
    return NoStoreJSONResponse(body)


token_route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is token)


@router.post(
    "/sts/revoke",
    summary="Revoke a token (RFC 7009)",
    openapi_extra=_TOKEN_BODY_ONLY,
    responses=_json_answer({"type": "object", "maxProperties": 0}, "Revoked, or nothing to revoke"),
)
async def revoke(request: Request) -> JSONResponse:
    params = await read_params(request)
    hub = services(request)
    party = await _authenticate(hub, request, params)
    token_value = params.get("token")
    if not token_value:
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "token is required")
    # RFC 7009 §2.2: unknown, invalid or foreign tokens also answer 200.
    await run_in_threadpool(service.revoke, hub, party, token_value)
    return NoStoreJSONResponse({})


@router.post(
    "/sts/introspect",
    summary="Introspect a token (RFC 7662)",
    description="A client may introspect its own tokens; a client with the `introspect` "
    'scope (a data source) any token. Anything else is `{"active": false}`.',
    openapi_extra=_TOKEN_BODY_ONLY,
    responses=_json_answer(
        {
            "type": "object",
            "required": ["active"],
            "properties": {"active": {"type": "boolean"}},
            "additionalProperties": True,
        },
        "The token's claims when active",
    ),
)
async def introspect(request: Request) -> JSONResponse:
    params = await read_params(request)
    hub = services(request)
    party = await _authenticate(hub, request, params)
    token_value = params.get("token")
    if not token_value:
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "token is required")
    claims = await run_in_threadpool(service.introspect, hub, party, token_value)
    for extension in _extensions(request) if claims is None else ():
        claims = await run_in_threadpool(extension.introspect, hub, party, token_value)
        if claims is not None:
            break
    if claims is None:
        return NoStoreJSONResponse({"active": False})
    return NoStoreJSONResponse({"active": True, "token_type": "Bearer", **claims})


@router.get(
    "/.well-known/jwks.json",
    summary="The hub's public signing keys (RFC 7517)",
    responses=_json_answer(
        {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
        },
        "The JWK set",
    ),
)
async def jwks(request: Request) -> JSONResponse:
    keys = await run_in_threadpool(services(request).keys.jwks)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=60"})


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    responses=_json_answer(
        {
            "type": "object",
            "required": ["issuer", "token_endpoint", "scopes_supported"],
            "properties": {
                "issuer": {"type": "string"},
                "token_endpoint": {"type": "string"},
                "scopes_supported": {"type": "array", "items": {"type": "string"}},
            },
        },
        "The metadata",
    ),
)
async def metadata(request: Request) -> JSONResponse:
    settings = services(request).settings
    base = settings.base_url
    return JSONResponse(
        {
            "issuer": settings.token_issuer,
            "token_endpoint": f"{base}/sts/Token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "revocation_endpoint": f"{base}/sts/revoke",
            "introspection_endpoint": f"{base}/sts/introspect",
            "grant_types_supported": [
                "client_credentials",
                *(extension.grant_type for extension in _extensions(request)),
            ],
            "authorization_details_types_supported": [
                extension.authorization_details_type for extension in _extensions(request)
            ],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "scopes_supported": sorted(scope.value for scope in SCOPES_OPEN),
            "service_documentation": f"{base}/docs",
        }
    )


ROUTERS = (router,)
