"""The one error catalog, and the framework-free error every layer raises or returns.

Seed codes (Elhub ``E10``/``EHnnn``) keep the seeds' meaning. Rules the seeds
do not number get consenthub's own stable ``CHnnnn`` codes, grouped by area:
``CH1nnn`` token service and authentication, ``CH2nnn`` input validation,
``CH3nnn`` data API, ``CH4nnn`` access requests and grants, ``CH5nnn`` the hub's own
availability. ``docs/errors.md`` lists the catalog and a test keeps it in step with this
module.

Services raise (or, for a batch, return per item) :class:`DomainError`: a code,
the fields that broke a rule, and the facts a rendering needs (``retry_after``,
the authentication scheme to challenge). How a code looks on the wire (HTTP
status and headers, an error page, the error of a BRS-NO-624 return message)
is derived from the catalog in one place, ``web/errors.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from consenthub.domain.messages import N_


class Code(StrEnum):
    """Every code consenthub answers with. Seed codes keep the seeds' names."""

    E10 = "E10"
    EH010 = "EH010"
    EH016 = "EH016"
    EH017 = "EH017"
    EH088 = "EH088"
    EH098 = "EH098"
    EH106 = "EH106"
    EH111 = "EH111"
    TOKEN_REQUEST_INVALID = "CH1001"
    GRANT_TYPE_UNSUPPORTED = "CH1002"
    CLIENT_AUTHENTICATION_FAILED = "CH1003"
    SCOPE_INVALID = "CH1004"
    TOO_MANY_FAILURES = "CH1005"
    MEDIA_TYPE_UNSUPPORTED = "CH1006"
    BEARER_TOKEN_MISSING = "CH1101"
    ACCESS_TOKEN_INVALID = "CH1102"
    SCOPE_INSUFFICIENT = "CH1103"
    CLIENT_NOT_ALLOWED = "CH1104"
    LOGIN_UNAVAILABLE = "CH1201"
    LOGIN_FAILED = "CH1202"
    LOGIN_WITHOUT_NATIONAL_ID = "CH1203"
    INVALID_FIELDS = "CH2001"
    NOT_FOUND = "CH2002"
    METHOD_NOT_ALLOWED = "CH2003"
    FORM_EXPIRED = "CH2004"
    UNKNOWN_CHOICE = "CH2005"
    TOO_LARGE = "CH2006"
    HEADERS_TOO_LARGE = "CH2007"
    REQUEST_TIMEOUT = "CH2008"
    METERING_POINT_NOT_READABLE = "CH3001"
    GRANT_UNKNOWN = "CH3002"
    ACCESS_REQUEST_UNKNOWN = "CH4001"
    LINK_INVALID = "CH4002"
    REQUEST_NOT_FOUND = "CH4003"
    REQUEST_NOT_YOURS = "CH4004"
    REQUEST_EXPIRED = "CH4005"
    REQUEST_CLOSED = "CH4006"
    GRANT_NOT_FOUND = "CH4007"
    EXTENDED_STORAGE_ONLY_TRUE = "CH4101"
    CONTRACT_DATES_INVALID = "CH4102"
    VALID_FROM_OUT_OF_RANGE = "CH4201"
    ACCOUNTING_POINT_NOT_CUSTOMERS = "CH4202"
    VALID_TO_NOT_AFTER_FROM = "CH4203"
    REMINDER_INVALID = "CH4204"
    REQUEST_END_INVALID = "CH4205"
    ACCOUNTING_POINT_ALREADY_ASKED = "CH4206"
    CONSENT_REQUEST_INVALID = "CH4301"
    CONSENT_NOT_FOR_PERSON = "CH4302"
    CONSENT_NOT_FOUND = "CH4303"
    CONSENT_GRANT_INVALID = "CH4304"
    STORE_UNAVAILABLE = "CH5001"


class ErrorCategory(StrEnum):
    VALIDATION = "validation"
    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    BUSINESS_RULE = "business_rule"
    RATE_LIMIT = "rate_limit"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


@dataclass(frozen=True)
class ErrorSpec:
    code: Code
    status: int
    category: ErrorCategory
    message_en: str
    message_nb: str
    # RFC 6749 §5.2 / RFC 6750 §3.1 error code, where the error has one.
    oauth_error: str | None = None
    # For errors an end user meets as a page: its title, an untranslated msgid.
    page_title: str | None = None

    def message(self, language: str) -> str:
        return self.message_nb if language == "nb" else self.message_en


@dataclass(frozen=True)
class FieldError:
    """One field that broke one rule; the rule in words, never the value."""

    field: str
    rule: str


class AuthScheme(StrEnum):
    """The HTTP authentication scheme a 401/403 challenges with (RFC 9110 §11.6.1)."""

    BEARER = "Bearer"
    BASIC = "Basic"


class DomainError(Exception):
    """A rule broken: the code, what broke it, and the facts its rendering needs.

    ``detail`` is a short explanation; on a page it is an untranslated msgid whose
    ``%(name)s`` placeholders ``params`` fill. ``challenge`` names the scheme of
    the ``WWW-Authenticate`` header and ``scope`` the scope it asks for.
    """

    def __init__(
        self,
        code: Code,
        detail: str | None = None,
        *,
        fields: Sequence[FieldError] = (),
        params: Mapping[str, str] | None = None,
        retry_after: int | None = None,
        challenge: AuthScheme | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail
        self.fields = tuple(fields)
        self.params = dict(params or {})
        self.retry_after = retry_after
        self.challenge = challenge
        self.scope = scope

    @property
    def spec(self) -> ErrorSpec:
        return CATALOG[self.code]

    @classmethod
    def invalid(cls, field: str, rule: str) -> DomainError:
        """``CH2001`` for one field."""
        return cls(Code.INVALID_FIELDS, fields=[FieldError(field, rule)])


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item of a batch (e.g. one line of a BRS-NO-622 message): accepted,
    or refused with the error that refused it. Batches answer per item instead of
    failing whole."""

    key: str
    error: DomainError | None = None
    reference: str | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


_ENTRIES = (
    # Elhub BRS-NO-622 / BRS-NO-624 (seeds 000 and 001).
    ErrorSpec(
        Code.E10,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The metering point is not registered in the hub",
        "Målepunktet må være registrert i huben",
    ),
    ErrorSpec(
        Code.EH010,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The metering point must be a settlement point",
        "Målepunkt må være et avregningspunkt",
    ),
    ErrorSpec(
        Code.EH016,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The metering point must have an end user on the initiation date, and removal "
        "needs an active third-party contract",
        "Målepunktet må ha en sluttbruker på initieringsdato, og fjerning krever en aktiv "
        "tredjepartskontrakt",
    ),
    ErrorSpec(
        Code.EH017,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The third party already has an active contract on the metering point",
        "Tredjepart har allerede en aktiv tredjepartskontrakt i målepunktet",
    ),
    ErrorSpec(
        Code.EH088,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The end user did not approve the third party's request for access",
        "Sluttbruker må godkjenne tredjeparts forespørsel på tilgang",
    ),
    ErrorSpec(
        Code.EH098,
        409,
        ErrorCategory.BUSINESS_RULE,
        "A request from the third party already exists",
        "Forespørsel fra tredjepart foreligger allerede",
    ),
    ErrorSpec(
        Code.EH106,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The end user owns no metering point",
        "Sluttbruker eier ingen målepunkt",
    ),
    ErrorSpec(
        Code.EH111,
        500,
        ErrorCategory.INTERNAL,
        "Internal error - try again later",
        "Intern feil – prøv igjen senere",
    ),
    # Token service (seed 004, RFC 6749, RFC 7009, RFC 7662).
    ErrorSpec(
        Code.TOKEN_REQUEST_INVALID,
        400,
        ErrorCategory.VALIDATION,
        "The token request is malformed or misses a required parameter",
        "Tokenforespørselen er ugyldig eller mangler en påkrevd parameter",
        "invalid_request",
    ),
    ErrorSpec(
        Code.GRANT_TYPE_UNSUPPORTED,
        400,
        ErrorCategory.VALIDATION,
        "The grant type is not supported",
        "Grant-typen støttes ikke",
        "unsupported_grant_type",
    ),
    ErrorSpec(
        Code.CLIENT_AUTHENTICATION_FAILED,
        401,
        ErrorCategory.AUTHENTICATION,
        "Client authentication failed",
        "Klientautentisering feilet",
        "invalid_client",
    ),
    ErrorSpec(
        Code.SCOPE_INVALID,
        400,
        ErrorCategory.AUTHORIZATION,
        "The requested scope is invalid or exceeds what the client may have",
        "Forespurt scope er ugyldig eller større enn klienten kan få",
        "invalid_scope",
    ),
    ErrorSpec(
        Code.TOO_MANY_FAILURES,
        429,
        ErrorCategory.RATE_LIMIT,
        "Too many failed attempts - wait before trying again",
        "For mange mislykkede forsøk – vent før du prøver igjen",
        "slow_down",
    ),
    ErrorSpec(
        Code.MEDIA_TYPE_UNSUPPORTED,
        415,
        ErrorCategory.VALIDATION,
        "The body must be application/x-www-form-urlencoded or application/json",
        "Innholdet må være application/x-www-form-urlencoded eller application/json",
        "invalid_request",
    ),
    ErrorSpec(
        Code.BEARER_TOKEN_MISSING,
        401,
        ErrorCategory.AUTHENTICATION,
        "A bearer token is required",
        "Et bearer-token er påkrevd",
    ),
    ErrorSpec(
        Code.ACCESS_TOKEN_INVALID,
        401,
        ErrorCategory.AUTHENTICATION,
        "The access token is invalid, expired, revoked or for another environment",
        "Tilgangstokenet er ugyldig, utløpt, tilbakekalt eller for et annet miljø",
        "invalid_token",
    ),
    ErrorSpec(
        Code.SCOPE_INSUFFICIENT,
        403,
        ErrorCategory.AUTHORIZATION,
        "The access token lacks the scope this operation needs",
        "Tilgangstokenet mangler scope som operasjonen krever",
        "insufficient_scope",
    ),
    ErrorSpec(
        Code.CLIENT_NOT_ALLOWED,
        403,
        ErrorCategory.AUTHORIZATION,
        "The client may not perform this operation",
        "Klienten har ikke lov til denne operasjonen",
        "unauthorized_client",
    ),
    ErrorSpec(
        Code.LOGIN_UNAVAILABLE,
        503,
        ErrorCategory.UNAVAILABLE,
        "Login is not available: no provider is configured or it cannot be reached",
        "Innlogging er ikke tilgjengelig: ingen leverandør er satt opp, eller den svarer ikke",
        page_title=N_("Login is not available"),
    ),
    ErrorSpec(
        Code.LOGIN_FAILED,
        400,
        ErrorCategory.VALIDATION,
        "The login was cancelled or could not be completed",
        "Innloggingen ble avbrutt eller kunne ikke fullføres",
        page_title=N_("Login failed"),
    ),
    ErrorSpec(
        Code.LOGIN_WITHOUT_NATIONAL_ID,
        403,
        ErrorCategory.AUTHORIZATION,
        "The login did not identify the person with a national identity number",
        "Innloggingen identifiserte ikke personen med et fødselsnummer",
        page_title=N_("Login failed"),
    ),
    # Input validation.
    ErrorSpec(
        Code.INVALID_FIELDS,
        400,
        ErrorCategory.VALIDATION,
        "The request has invalid fields",
        "Forespørselen har ugyldige felt",
        "invalid_request",
    ),
    ErrorSpec(
        Code.NOT_FOUND, 404, ErrorCategory.NOT_FOUND, "No such resource", "Ressursen finnes ikke"
    ),
    ErrorSpec(
        Code.METHOD_NOT_ALLOWED,
        405,
        ErrorCategory.VALIDATION,
        "The method is not allowed on this resource",
        "Metoden er ikke tillatt på denne ressursen",
    ),
    ErrorSpec(
        Code.FORM_EXPIRED,
        403,
        ErrorCategory.AUTHORIZATION,
        "The form has expired or did not come from this site",
        "Skjemaet er utløpt eller kom ikke fra dette nettstedet",
        page_title=N_("The form has expired"),
    ),
    ErrorSpec(
        Code.UNKNOWN_CHOICE,
        400,
        ErrorCategory.VALIDATION,
        "The form was sent with a choice it does not offer",
        "Skjemaet ble sendt med et valg det ikke har",
        page_title=N_("Unknown choice"),
    ),
    ErrorSpec(
        Code.TOO_LARGE,
        413,
        ErrorCategory.VALIDATION,
        "The request holds more than the documented maximum",
        "Forespørselen inneholder mer enn det dokumenterte maksimum",
    ),
    ErrorSpec(
        Code.HEADERS_TOO_LARGE,
        431,
        ErrorCategory.VALIDATION,
        "The request's header fields are larger or more than the server takes",
        "Forespørselens header-felter er større eller flere enn serveren tar imot",
    ),
    ErrorSpec(
        Code.REQUEST_TIMEOUT,
        408,
        ErrorCategory.VALIDATION,
        "The request did not arrive in time",
        "Forespørselen kom ikke fram i tide",
    ),
    # Data API (SPEC §8).
    ErrorSpec(
        Code.METERING_POINT_NOT_READABLE,
        404,
        ErrorCategory.NOT_FOUND,
        "The metering point does not exist or the caller has no grant for it",
        "Målepunktet finnes ikke, eller kalleren har ingen tilgang til det",
    ),
    ErrorSpec(
        Code.GRANT_UNKNOWN,
        404,
        ErrorCategory.NOT_FOUND,
        "The caller has no grant with this id",
        "Kalleren har ingen tilgang med denne id-en",
    ),
    # Access requests (SPEC §4-§7).
    ErrorSpec(
        Code.ACCESS_REQUEST_UNKNOWN,
        404,
        ErrorCategory.NOT_FOUND,
        "The party has no access request with this request_id",
        "Parten har ingen forespørsel med denne request_id",
    ),
    ErrorSpec(
        Code.LINK_INVALID,
        400,
        ErrorCategory.VALIDATION,
        "The link to the request is not valid",
        "Lenken til forespørselen er ikke gyldig",
        page_title=N_("This link cannot be used"),
    ),
    ErrorSpec(
        Code.REQUEST_NOT_FOUND,
        404,
        ErrorCategory.NOT_FOUND,
        "There is no such access request",
        "Forespørselen finnes ikke",
        page_title=N_("Request not found"),
    ),
    ErrorSpec(
        Code.REQUEST_NOT_YOURS,
        403,
        ErrorCategory.AUTHORIZATION,
        "The access request was opened by another person",
        "Forespørselen ble åpnet av en annen person",
        page_title=N_("This request is not yours"),
    ),
    ErrorSpec(
        Code.REQUEST_EXPIRED,
        410,
        ErrorCategory.BUSINESS_RULE,
        "The access request passed its deadline unanswered and can no longer be approved",
        "Forespørselen passerte fristen ubesvart og kan ikke lenger godkjennes",
        page_title=N_("The request has expired"),
    ),
    ErrorSpec(
        Code.REQUEST_CLOSED,
        409,
        ErrorCategory.CONFLICT,
        "The access request has already been answered or cancelled",
        "Forespørselen er allerede besvart eller trukket tilbake",
        page_title=N_("The request is closed"),
    ),
    # Message-initiated access updates (BRS-NO-622), consenthub's own rules.
    ErrorSpec(
        Code.EXTENDED_STORAGE_ONLY_TRUE,
        422,
        ErrorCategory.BUSINESS_RULE,
        "extendedStorage may only be set to true",
        "extendedStorage kan bare settes til true",
    ),
    ErrorSpec(
        Code.CONTRACT_DATES_INVALID,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The start and end do not fit the action: an add takes no start, an update needs a "
        "start or an end, and the end must come after the start",
        "Start og slutt passer ikke handlingen: add tar ingen start, update trenger start eller "
        "slutt, og slutt må komme etter start",
    ),
    # Authorization requests (DH-831 / DH-851), consenthub's own rules.
    ErrorSpec(
        Code.VALID_FROM_OUT_OF_RANGE,
        422,
        ErrorCategory.BUSINESS_RULE,
        "validFrom may not be in the past nor more than 90 days in the future",
        "validFrom kan ikke ligge i fortiden eller mer enn 90 dager fram i tid",
    ),
    ErrorSpec(
        Code.ACCOUNTING_POINT_NOT_CUSTOMERS,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The accounting point is not the customer's on validFrom",
        "Målepunktet tilhører ikke kunden på validFrom",
    ),
    ErrorSpec(
        Code.VALID_TO_NOT_AFTER_FROM,
        422,
        ErrorCategory.BUSINESS_RULE,
        "validTo must come after validFrom",
        "validTo må komme etter validFrom",
    ),
    ErrorSpec(
        Code.REMINDER_INVALID,
        422,
        ErrorCategory.BUSINESS_RULE,
        "reminderAt needs a recipient and must fall after now and before the request ends",
        "reminderAt krever en mottaker og må ligge etter nå og før forespørselen utløper",
    ),
    ErrorSpec(
        Code.REQUEST_END_INVALID,
        422,
        ErrorCategory.BUSINESS_RULE,
        "The request's end date must be after today and at most 90 days ahead",
        "Forespørselens sluttdato må være etter i dag og høyst 90 dager fram i tid",
    ),
    ErrorSpec(
        Code.ACCOUNTING_POINT_ALREADY_ASKED,
        409,
        ErrorCategory.CONFLICT,
        "An open request of the seller already asks for this accounting point",
        "En åpen forespørsel fra selgeren gjelder allerede dette målepunktet",
    ),
    # Altinn consent (seed 002), consenthub's own rules.
    ErrorSpec(
        Code.CONSENT_REQUEST_INVALID,
        400,
        ErrorCategory.VALIDATION,
        "The consent request is not valid",
        "Samtykkeforespørselen er ikke gyldig",
        page_title=N_("This consent request cannot be used"),
    ),
    ErrorSpec(
        Code.CONSENT_NOT_FOR_PERSON,
        403,
        ErrorCategory.AUTHORIZATION,
        "The consent request asks another person",
        "Samtykkeforespørselen gjelder en annen person",
        page_title=N_("This consent request is not for you"),
    ),
    ErrorSpec(
        Code.CONSENT_NOT_FOUND,
        404,
        ErrorCategory.NOT_FOUND,
        "There is no such consent to withdraw",
        "Det finnes ikke noe slikt samtykke å trekke tilbake",
        page_title=N_("Consent not found"),
    ),
    ErrorSpec(
        Code.CONSENT_GRANT_INVALID,
        400,
        ErrorCategory.AUTHORIZATION,
        "The authorization code or consent is invalid, used, expired or withdrawn",
        "Autorisasjonskoden eller samtykket er ugyldig, brukt, utløpt eller trukket tilbake",
        oauth_error="invalid_grant",
    ),
    # Grants (SPEC §2, §9).
    ErrorSpec(
        Code.GRANT_NOT_FOUND,
        404,
        ErrorCategory.NOT_FOUND,
        "There is no such live access to end",
        "Det finnes ingen slik aktiv tilgang å avslutte",
        page_title=N_("Access not found"),
    ),
    # The hub's own availability.
    ErrorSpec(
        Code.STORE_UNAVAILABLE,
        503,
        ErrorCategory.UNAVAILABLE,
        N_("The hub cannot reach its database just now; try again shortly"),
        "Huben får ikke kontakt med databasen sin akkurat nå; prøv igjen om litt",
        page_title=N_("The service is unavailable"),
    ),
)

CATALOG: dict[str, ErrorSpec] = {entry.code.value: entry for entry in _ENTRIES}


def error(code: str) -> ErrorSpec:
    """The catalog entry of ``code``; a ``KeyError`` for a code the catalog lacks."""
    return CATALOG[code]
