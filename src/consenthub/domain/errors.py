"""The one error catalog: every error code consenthub answers with.

Seed codes (Elhub ``E10``/``EHnnn``) keep the seeds' meaning. Rules the seeds
do not number get consenthub's own stable ``CHnnnn`` codes, grouped by area:
``CH1nnn`` token service and authentication, ``CH2nnn`` input validation,
``CH3nnn`` data API, ``CH4nnn`` access requests. ``docs/errors.md`` lists the
catalog and a test keeps it in step with this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCategory(StrEnum):
    VALIDATION = "validation"
    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    NOT_FOUND = "not_found"
    BUSINESS_RULE = "business_rule"
    RATE_LIMIT = "rate_limit"
    INTERNAL = "internal"


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    status: int
    category: ErrorCategory
    message_en: str
    message_nb: str
    # RFC 6749 §5.2 / RFC 6750 §3.1 error code, where the error has one.
    oauth_error: str | None = None

    def message(self, language: str) -> str:
        return self.message_nb if language == "nb" else self.message_en


_ENTRIES = (
    # Elhub BRS-NO-622 / BRS-NO-624 (seeds 000 and 001).
    ErrorSpec(
        "E10",
        422,
        ErrorCategory.BUSINESS_RULE,
        "The metering point is not registered in the hub",
        "Målepunktet må være registrert i huben",
    ),
    ErrorSpec(
        "EH010",
        422,
        ErrorCategory.BUSINESS_RULE,
        "The metering point must be a settlement point",
        "Målepunkt må være et avregningspunkt",
    ),
    ErrorSpec(
        "EH016",
        422,
        ErrorCategory.BUSINESS_RULE,
        "The metering point must have an end user on the initiation date, and removal "
        "needs an active third-party contract",
        "Målepunktet må ha en sluttbruker på initieringsdato, og fjerning krever en aktiv "
        "tredjepartskontrakt",
    ),
    ErrorSpec(
        "EH017",
        422,
        ErrorCategory.BUSINESS_RULE,
        "The third party already has an active contract on the metering point",
        "Tredjepart har allerede en aktiv tredjepartskontrakt i målepunktet",
    ),
    ErrorSpec(
        "EH088",
        422,
        ErrorCategory.BUSINESS_RULE,
        "The end user did not approve the third party's request for access",
        "Sluttbruker må godkjenne tredjeparts forespørsel på tilgang",
    ),
    ErrorSpec(
        "EH098",
        409,
        ErrorCategory.BUSINESS_RULE,
        "A request from the third party already exists",
        "Forespørsel fra tredjepart foreligger allerede",
    ),
    ErrorSpec(
        "EH106",
        422,
        ErrorCategory.BUSINESS_RULE,
        "The end user owns no metering point",
        "Sluttbruker eier ingen målepunkt",
    ),
    ErrorSpec(
        "EH111",
        500,
        ErrorCategory.INTERNAL,
        "Internal error - try again later",
        "Intern feil – prøv igjen senere",
    ),
    # Token service (seed 004, RFC 6749, RFC 7009, RFC 7662).
    ErrorSpec(
        "CH1001",
        400,
        ErrorCategory.VALIDATION,
        "The token request is malformed or misses a required parameter",
        "Tokenforespørselen er ugyldig eller mangler en påkrevd parameter",
        "invalid_request",
    ),
    ErrorSpec(
        "CH1002",
        400,
        ErrorCategory.VALIDATION,
        "The grant type is not supported",
        "Grant-typen støttes ikke",
        "unsupported_grant_type",
    ),
    ErrorSpec(
        "CH1003",
        401,
        ErrorCategory.AUTHENTICATION,
        "Client authentication failed",
        "Klientautentisering feilet",
        "invalid_client",
    ),
    ErrorSpec(
        "CH1004",
        400,
        ErrorCategory.AUTHORIZATION,
        "The requested scope is invalid or exceeds what the client may have",
        "Forespurt scope er ugyldig eller større enn klienten kan få",
        "invalid_scope",
    ),
    ErrorSpec(
        "CH1005",
        429,
        ErrorCategory.RATE_LIMIT,
        "Too many failed attempts - wait before trying again",
        "For mange mislykkede forsøk – vent før du prøver igjen",
        "slow_down",
    ),
    ErrorSpec(
        "CH1006",
        415,
        ErrorCategory.VALIDATION,
        "The body must be application/x-www-form-urlencoded or application/json",
        "Innholdet må være application/x-www-form-urlencoded eller application/json",
        "invalid_request",
    ),
    ErrorSpec(
        "CH1101",
        401,
        ErrorCategory.AUTHENTICATION,
        "A bearer token is required",
        "Et bearer-token er påkrevd",
    ),
    ErrorSpec(
        "CH1102",
        401,
        ErrorCategory.AUTHENTICATION,
        "The access token is invalid, expired, revoked or for another environment",
        "Tilgangstokenet er ugyldig, utløpt, tilbakekalt eller for et annet miljø",
        "invalid_token",
    ),
    ErrorSpec(
        "CH1103",
        403,
        ErrorCategory.AUTHORIZATION,
        "The access token lacks the scope this operation needs",
        "Tilgangstokenet mangler scope som operasjonen krever",
        "insufficient_scope",
    ),
    ErrorSpec(
        "CH1104",
        403,
        ErrorCategory.AUTHORIZATION,
        "The client may not perform this operation",
        "Klienten har ikke lov til denne operasjonen",
        "unauthorized_client",
    ),
    # Input validation.
    ErrorSpec(
        "CH2001",
        400,
        ErrorCategory.VALIDATION,
        "The request has invalid fields",
        "Forespørselen har ugyldige felt",
        "invalid_request",
    ),
    ErrorSpec("CH2002", 404, ErrorCategory.NOT_FOUND, "No such resource", "Ressursen finnes ikke"),
    ErrorSpec(
        "CH2003",
        405,
        ErrorCategory.VALIDATION,
        "The method is not allowed on this resource",
        "Metoden er ikke tillatt på denne ressursen",
    ),
    # Data API (SPEC §8).
    ErrorSpec(
        "CH3001",
        404,
        ErrorCategory.NOT_FOUND,
        "The metering point does not exist or the caller has no grant for it",
        "Målepunktet finnes ikke, eller kalleren har ingen tilgang til det",
    ),
    # Access requests (SPEC §4-§7).
    ErrorSpec(
        "CH4001",
        404,
        ErrorCategory.NOT_FOUND,
        "The party has no access request with this request_id",
        "Parten har ingen forespørsel med denne request_id",
    ),
)

CATALOG: dict[str, ErrorSpec] = {entry.code: entry for entry in _ENTRIES}


def error(code: str) -> ErrorSpec:
    return CATALOG[code]
