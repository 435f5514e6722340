"""Rules of Altinn consent requests (seed 002, "Samtykke URL parametere"). Pure: imports
only ``domain``. Every parameter of the link is judged before anything it names is
trusted, and a bad one is an error page naming it, never a redirect."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Collection, Mapping, Sequence
from urllib.parse import urlsplit

from consenthub.consent.errors import ConsentRequestError
from consenthub.domain.consent import (
    COMPANY_PLACEHOLDER,
    RESOURCE_CODE,
    ConsentResource,
    ParameterFormat,
    parse_date,
)
from consenthub.domain.identifiers import InvalidIdentifier, validate_fodselsnummer, validate_orgnr
from consenthub.domain.messages import N_
from consenthub.domain.parties import Role

# Seed 002's parameters (metadata parameters ``<code>_<name>`` come on top).
PARAMETERS = (
    "Resources",
    "CoveredBy",
    "OfferedBy",
    "RedirectUrl",
    "ValidToDate",
    "LanguageCode",
    "DelegationContext",
    "ResponseType",
    "UserToken",
)
# Seed 002: LanguageCode "en, nb-NO, nn-NO", as the portal's languages.
LANGUAGES = {"en": "en", "nb-NO": "nb", "nn-NO": "nn"}
VALID_TO_FORMAT = "%Y-%m-%d %H:%M:%S"
DELEGATION_CONTEXT_LENGTH = 4000
# NAV's parameters (seed 002): the period asked for, start not after end.
PERIOD_START, PERIOD_END = "fraOgMed", "tilOgMed"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def single_parameters(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each parameter at most once: a repeated one would let two readers of the same link
    disagree about what it asks (seed 002: one value per parameter)."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise ConsentRequestError(
                N_("The parameter %(name)s is given more than once."), name=name
            )
        values[name] = value
    return values


def required(params: Mapping[str, str], name: str) -> str:
    """A mandatory parameter ("Obligatorisk" in seed 002), present and not blank."""
    value = params.get(name, "").strip()
    if not value:
        raise ConsentRequestError(N_("The parameter %(name)s is missing."), name=name)
    return value


def response_type(params: Mapping[str, str]) -> None:
    """Seed 002: ResponseType "Vil alltid være «code»"."""
    if required(params, "ResponseType") != "code":
        raise ConsentRequestError(N_("%(name)s must be code."), name="ResponseType")


def resource_codes(text: str) -> list[str]:
    """Seed 002: Resources are ``<serviceCode>_<edition>`` codes separated by ``.``
    ("eks. Resources=4629_2.4630_1"), each once."""
    codes = text.split(".")
    if not all(RESOURCE_CODE.fullmatch(code) for code in codes):
        raise ConsentRequestError(
            N_("%(name)s must be service codes such as 5252_1, separated by dots."),
            name="Resources",
        )
    if len(set(codes)) != len(codes):
        raise ConsentRequestError(N_("%(name)s names a resource twice."), name="Resources")
    return codes


def known_resources(
    codes: Sequence[str], registered: Mapping[str, ConsentResource]
) -> list[ConsentResource]:
    """Only resources a data source registered as consent resources (seed 002: "som
    datakilde har definert som samtykketjeneste")."""
    if any(code not in registered for code in codes):
        raise ConsentRequestError(
            N_("%(name)s names a resource that is not registered."), name="Resources"
        )
    return [registered[code] for code in codes]


def covered_by(text: str) -> str:
    """Seed 002: CoveredBy is the consumer's organisation number (9 digits, mod 11)."""
    try:
        return validate_orgnr(text)
    except InvalidIdentifier:
        raise ConsentRequestError(
            N_("%(name)s must be an organisation number."), name="CoveredBy"
        ) from None


def may_ask(*, active: bool, roles: Collection[str]) -> None:
    """Seed 002: "NAV må registrere konsument av samtykke"; only a registered, active
    consent consumer may ask (an unknown one is not active)."""
    if not active or Role.CONSENT_CONSUMER not in roles:
        raise ConsentRequestError(
            N_("%(name)s is not a registered consent consumer."), name="CoveredBy"
        )


def redirect_url(text: str, domains: Collection[str]) -> str:
    """Seed 002: the consumer registers its "retur domene"; RedirectUrl must lie in it
    (the host or a subdomain), over https (http only for localhost). Anything else is an
    error page, never a redirect (SPEC §7)."""
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    local = host in ("localhost", "127.0.0.1", "::1")
    if parts.scheme not in ("https", "http") or not host or (parts.scheme == "http" and not local):
        raise ConsentRequestError(N_("%(name)s must be an https address."), name="RedirectUrl")
    if parts.fragment or parts.username or parts.password:
        raise ConsentRequestError(
            N_("%(name)s must not hold a fragment or credentials."), name="RedirectUrl"
        )
    if not any(host == domain or host.endswith("." + domain) for domain in domains):
        raise ConsentRequestError(
            N_("%(name)s is not in the consumer's registered return domain."), name="RedirectUrl"
        )
    return text


def valid_to(
    text: str, zone: dt.tzinfo, now: dt.datetime, resources: Sequence[ConsentResource]
) -> dt.datetime:
    """Seed 002: ValidToDate ``YYYY-MM-DD hh:mm:ss`` (the hub's time zone), when the
    consent ends: after now, and no later than the shortest maximum duration of the
    resources asked for."""
    try:
        local = dt.datetime.strptime(text, VALID_TO_FORMAT)
    except ValueError:
        raise ConsentRequestError(
            N_("%(name)s must be given as YYYY-MM-DD hh:mm:ss."), name="ValidToDate"
        ) from None
    end = local.replace(tzinfo=zone)
    if end <= now:
        raise ConsentRequestError(N_("%(name)s must be in the future."), name="ValidToDate")
    longest = min(resource.max_duration_days for resource in resources)
    if end > now + dt.timedelta(days=longest):
        raise ConsentRequestError(
            N_("%(name)s lies beyond the longest validity of the resources asked for."),
            name="ValidToDate",
        )
    return end


def language(text: str | None) -> str | None:
    """Seed 002: LanguageCode ``en``, ``nb-NO`` or ``nn-NO``; without it, the person's own
    language choice."""
    if text is None:
        return None
    if text not in LANGUAGES:
        raise ConsentRequestError(N_("%(name)s must be en, nb-NO or nn-NO."), name="LanguageCode")
    return LANGUAGES[text]


def delegation_context(text: str) -> str:
    """Seed 002: DelegationContext, the consumer's purpose of the consent (required)."""
    if len(text) > DELEGATION_CONTEXT_LENGTH:
        raise ConsentRequestError(N_("%(name)s is too long."), name="DelegationContext")
    if any(ord(char) < 32 and char not in "\n\r\t" for char in text):
        raise ConsentRequestError(
            N_("%(name)s must not contain control characters."), name="DelegationContext"
        )
    return text


def purpose(context: str, consumer_name: str) -> str:
    """The purpose text the person reads: ``NAVN_SELSKAP`` filled in with the consumer's
    registered name (seed 002: "Konsument må legge inn sitt bedriftsnavn … for feltene
    NAVN_SELSKAP"; the name shown is the registered one, never the consumer's claim)."""
    return context.replace(COMPANY_PLACEHOLDER, consumer_name)


def metadata(
    params: Mapping[str, str], resources: Sequence[ConsentResource]
) -> dict[str, dict[str, str]]:
    """Each resource's own parameters, sent as ``<code>_<name>`` (seed 002:
    ``5252_1_fraOgMed``, ``dd.mm.yyyy``, "Obligatorisk"): required ones present, each in
    its format, no parameter the resource does not define, and ``fraOgMed`` not after
    ``tilOgMed``."""
    values: dict[str, dict[str, str]] = {}
    for resource in resources:
        defined = {parameter.name for parameter in resource.parameters}
        for name in params:
            if (
                name.startswith(resource.code + "_")
                and name[len(resource.code) + 1 :] not in defined
            ):
                raise ConsentRequestError(
                    N_("%(name)s is not a parameter of this resource."), name=name
                )
        given: dict[str, str] = {}
        dates: dict[str, dt.date] = {}
        for parameter in resource.parameters:
            name = f"{resource.code}_{parameter.name}"
            value = params.get(name, "").strip()
            if not value:
                if parameter.required:
                    raise ConsentRequestError(N_("The parameter %(name)s is missing."), name=name)
                continue
            if parameter.format is ParameterFormat.DATE:
                parsed = parse_date(value)
                if parsed is None:
                    raise ConsentRequestError(
                        N_("%(name)s must be a date given as dd.mm.yyyy."), name=name
                    )
                dates[parameter.name] = parsed
            given[parameter.name] = value
        start, end = dates.get(PERIOD_START), dates.get(PERIOD_END)
        if start is not None and end is not None and start > end:
            raise ConsentRequestError(
                N_("%(name)s must not be after %(end)s."),
                name=f"{resource.code}_{PERIOD_START}",
                end=f"{resource.code}_{PERIOD_END}",
            )
        values[resource.code] = given
    return values


def offered_by(text: str | None, *, allow_synthetic: bool) -> str | None:
    """Seed 002: OfferedBy, optional, "fødselsnummer eller organisasjonsnummer". A person
    consents for themselves here; consenting for an organisation needs its roles, which
    the hub does not hold, so an organisation number is refused by name."""
    if text is None:
        return None
    try:
        return validate_fodselsnummer(text, allow_synthetic=allow_synthetic)
    except InvalidIdentifier:
        pass
    try:
        validate_orgnr(text)
    except InvalidIdentifier:
        raise ConsentRequestError(
            N_("%(name)s must be a national identity number."), name="OfferedBy"
        ) from None
    raise ConsentRequestError(
        N_("%(name)s names an organisation; consent on behalf of an organisation is not offered."),
        name="OfferedBy",
    )


def user_token(text: str | None) -> str | None:
    """Seed 002: UserToken, "Hex-enkodet SHA-256" of the person's fødselsnummer."""
    if text is None:
        return None
    if not _HEX_SHA256.fullmatch(text):
        raise ConsentRequestError(
            N_("%(name)s must be a hex-encoded SHA-256 hash."), name="UserToken"
        )
    return text.lower()


def identity_hash(national_id: str) -> str:
    """Seed 002: "SHA-256 hash av en brukers fødselsnummer (11 siffer uten mellomrom)"."""
    return hashlib.sha256(national_id.encode()).hexdigest()


def same_person(expected: str | None, logged_in: str) -> bool:
    """The logged-in person is the one the link names, or the link names nobody; both are
    given as the same keyed hash of their ``identity_hash``.

    Seed 002: "Hvis bruker er innlogget med et annet fødselsnummer, blir brukeren bedt om
    å logge inn på nytt"."""
    return expected is None or hmac.compare_digest(expected, logged_in)


def is_live(
    *,
    valid_to: dt.datetime,
    withdrawn_at: dt.datetime | None,
    revoked_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """A consent lives until its ValidToDate (seed 002: "Dato og tidspunkt for når
    samtykket opphører"), unless the person withdrew it (SPEC §7: "withdraw a consent at
    any time") or a replayed code revoked it (RFC 6749 §4.1.2)."""
    return withdrawn_at is None and revoked_at is None and now < valid_to


def may_issue_token(*, live: bool, one_time: bool, used_at: dt.datetime | None) -> bool:
    """A fresh consent token while the consent lives; a one-time consent is spent by its
    first token (SPEC §7)."""
    return live and not (one_time and used_at is not None)
