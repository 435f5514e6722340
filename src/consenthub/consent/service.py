"""Use cases of Altinn consent (seed 002). Each owns its transaction; the request itself
lives in the shared ``access_requests`` lifecycle (process ``consent``), the consent the
person gives in ``consents``, and its token is signed by the one signer.

1. ``resolve_request`` judges the consumer's link, ``create_request`` records it.
2. ``open_request`` shows it to the person it is for, ``answer`` records their answer
   and hands out a single-use authorization code (RFC 6749 §4.1.2).
3. ``exchange_code`` and ``fresh_token`` issue consent tokens; ``introspect`` says
   whether one is still live; ``withdraw`` ends a consent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from consenthub import access_requests, registry
from consenthub.access_requests import AccessRequest, NewAccessRequest
from consenthub.consent import rules, store, tokens
from consenthub.consent.errors import ConsentRequestError
from consenthub.consent.store import ConsentRecord, NewConsent, TokenConsent
from consenthub.domain.access import Decision, EventType, Process, Scope, Status
from consenthub.domain.consent import ConsentResource
from consenthub.domain.errors import Code, DomainError, FieldError
from consenthub.domain.identifiers import InvalidIdentifier, validate_uuid
from consenthub.domain.messages import N_
from consenthub.domain.parties import ApiScope, allowed_scopes
from consenthub.outbox import Event, enqueue_webhooks
from consenthub.registry import PartyRecord
from consenthub.services import Services

# How long a consent request waits for the person after the link is opened.
REQUEST_DEADLINE = dt.timedelta(hours=1)
# RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is
# RECOMMENDED"; the consumer exchanges it at once.
CODE_LIFETIME = dt.timedelta(seconds=60)
# How many ended consents one transaction of ``expire_due`` records.
EXPIRY_BATCH = 500
# Where the request's parts are kept in its process details.
RESOURCES, PURPOSE, REDIRECT_URL, VALID_TO = "resources", "purpose", "redirect_url", "valid_to"
LANGUAGE, EXPECTED_PERSON, USER_TOKEN, ONE_TIME = "language", "offered_by", "user_token", "one_time"


@dataclass(frozen=True)
class ConsentLink:
    """A valid consent request link: who asks, for what, until when, and where the answer
    goes. ``offered_by`` and ``user_token`` are keyed hashes of the SHA-256 of identity
    numbers (``NationalIdCipher.user_token_tag``), never the plain SHA-256."""

    consumer: PartyRecord
    resources: dict[str, dict[str, str]]
    purpose: str
    redirect_url: str
    valid_to: dt.datetime
    language: str | None
    offered_by: str | None
    user_token: str | None
    one_time: bool


@dataclass(frozen=True)
class ResourceView:
    resource: ConsentResource
    values: dict[str, str]


@dataclass(frozen=True)
class ConsentView:
    """What the consent page shows."""

    request: AccessRequest
    consumer_name: str
    consumer_orgnr: str | None
    resources: list[ResourceView]
    purpose: str
    valid_to: dt.datetime
    one_time: bool


@dataclass(frozen=True)
class Answered:
    """The person's answer, and the code the consumer exchanges (on acceptance)."""

    redirect_url: str
    code: str | None


def _event(type_: EventType, **data: Any) -> Event:
    return Event(type_, data)


def resolve_request(hub: Services, pairs: Sequence[tuple[str, str]]) -> ConsentLink:
    """The link's consumer, resources with metadata, purpose, return address and validity,
    or a ``ConsentRequestError`` naming the parameter (seed 002, "Samtykke URL
    parametere"). The return address is judged before anything that could send the
    browser there."""
    params = rules.single_parameters(pairs)
    rules.response_type(params)
    orgnr = rules.covered_by(rules.required(params, "CoveredBy"))
    with hub.database.read() as conn:
        consumer = registry.find_consumer(conn, orgnr)
        domains = registry.return_domains(conn, consumer.id) if consumer else []
        codes = rules.resource_codes(rules.required(params, "Resources"))
        registered = {found.code: found for found in registry.consent_resources(conn, codes)}
    rules.may_ask(
        active=bool(consumer and consumer.active), roles=consumer.roles if consumer else ()
    )
    assert consumer is not None  # an unknown consumer is not active: may_ask refused it
    redirect_url = rules.redirect_url(rules.required(params, "RedirectUrl"), domains)
    resources = rules.known_resources(codes, registered)
    valid_to = rules.valid_to(
        rules.required(params, "ValidToDate"), hub.settings.zone, hub.now(), resources
    )
    language = rules.language(params.get("LanguageCode"))
    context = rules.delegation_context(rules.required(params, "DelegationContext"))
    values = rules.metadata(params, resources)
    offered_by = rules.offered_by(
        params.get("OfferedBy"), allow_synthetic=hub.settings.allow_synthetic_ids
    )
    return ConsentLink(
        consumer=consumer,
        resources=values,
        purpose=rules.purpose(context, consumer.name),
        redirect_url=redirect_url,
        valid_to=valid_to,
        language=language,
        offered_by=_person_tag(hub, rules.identity_hash(offered_by)) if offered_by else None,
        user_token=_person_tag(hub, rules.user_token(params.get("UserToken"))),
        one_time=any(resource.one_time for resource in resources),
    )


def create_request(hub: Services, link: ConsentLink, request_id: str | None = None) -> str:
    """The consent request, pending until the person answers or the deadline passes, and
    ``consent.created`` to the consumer in the same transaction; returns its id. A link
    carries no id of the consumer's own, so each opening is a request; the API names
    one (``request_id``), which must be new."""
    now = hub.now()
    new = NewAccessRequest(
        process=Process.CONSENT,
        party_id=link.consumer.id,
        request_id=request_id or str(uuid.uuid4()),
        # Scopes are Elhub's; a consent is judged by its resources alone.
        scope=Scope.LIMITED,
        deadline=now + REQUEST_DEADLINE,
        details={
            RESOURCES: link.resources,
            PURPOSE: link.purpose,
            REDIRECT_URL: link.redirect_url,
            VALID_TO: link.valid_to.isoformat(),
            LANGUAGE: link.language,
            EXPECTED_PERSON: link.offered_by,
            USER_TOKEN: link.user_token,
            ONE_TIME: link.one_time,
        },
    )
    with hub.database.write() as conn:
        [internal_id] = access_requests.open_requests(
            conn, [new], now=now, actor=f"party:{link.consumer.id}"
        )
        event = _event(
            EventType.CONSENT_CREATED, requestId=internal_id, resources=list(link.resources)
        )
        enqueue_webhooks(conn, link.consumer.id, [event], now=now)
    return internal_id


def _consent_request(hub: Services, internal_id: str) -> AccessRequest:
    found = access_requests.get(hub, internal_id)
    if found is None or found.process is not Process.CONSENT:
        raise DomainError(Code.REQUEST_NOT_FOUND, N_("There is no such request."))
    return found


def _person_tag(hub: Services, sha256_hex: str | None) -> str | None:
    """What is kept of a link's person (``UserToken``, ``OfferedBy``): a keyed hash."""
    return None if sha256_hex is None else hub.ids.user_token_tag(sha256_hex)


def _tag_of(hub: Services, conn: Connection, end_user_id: int) -> str:
    national_id = store.national_id(conn, hub.ids, end_user_id)
    return hub.ids.user_token_tag(rules.identity_hash(national_id))


def is_for(hub: Services, internal_id: str, end_user_id: int) -> bool:
    """Whether the logged-in person matches the link's ``UserToken``; when not, they are
    asked to log in again (seed 002)."""
    request = _consent_request(hub, internal_id)
    with hub.database.read() as conn:
        tag = _tag_of(hub, conn, end_user_id)
    return rules.same_person(request.details.get(USER_TOKEN), tag)


def open_request(hub: Services, internal_id: str, end_user_id: int) -> ConsentView:
    """The pending request as its person sees it, bound to them at first sight. A link
    naming another person in ``OfferedBy`` is refused; a request no longer pending is
    an error page."""
    request = _consent_request(hub, internal_id)
    with hub.database.read() as conn:
        tag = _tag_of(hub, conn, end_user_id)
        found = registry.consent_resources(conn, list(request.details[RESOURCES]))
    if not rules.same_person(request.details.get(EXPECTED_PERSON), tag):
        raise DomainError(
            Code.CONSENT_NOT_FOR_PERSON, N_("The consent request is meant for another person.")
        )
    bound = access_requests.open_for(hub, internal_id, end_user_id).request
    if bound.status is not Status.PENDING:
        raise _no_longer_pending(bound.status)
    by_code = {resource.code: resource for resource in found}
    return ConsentView(
        request=bound,
        consumer_name=bound.party_name,
        consumer_orgnr=bound.party_orgnr,
        resources=[
            ResourceView(by_code[code], values)
            for code, values in request.details[RESOURCES].items()
        ],
        purpose=request.details[PURPOSE],
        valid_to=dt.datetime.fromisoformat(request.details[VALID_TO]),
        one_time=bool(request.details[ONE_TIME]),
    )


def _no_longer_pending(status: Status) -> DomainError:
    """A request that can no longer be answered, said as a page."""
    if status is Status.EXPIRED:
        return DomainError(
            Code.REQUEST_EXPIRED, N_("The request passed its deadline before it was answered.")
        )
    return DomainError(
        Code.REQUEST_CLOSED, N_("This request has already been answered or withdrawn.")
    )


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def answer(hub: Services, internal_id: str, end_user_id: int, accept: bool) -> Answered:
    """The person's answer, in one transaction: the request decided, and on acceptance the
    consent recorded with the hash of a fresh single-use code. A request no longer
    pending is an error page (expired, or answered before)."""
    now = hub.now()
    code = secrets.token_urlsafe(32) if accept else None
    with hub.database.write() as conn:
        decided = access_requests.settle(
            conn,
            internal_id,
            end_user_id,
            Decision.APPROVE if accept else Decision.REJECT,
            now=now,
        )
        request = decided.request
        if decided.decided_now and code is not None:
            consent_id = store.insert_consent(
                conn,
                NewConsent(
                    access_request_id=request.id,
                    party_id=request.party_id,
                    end_user_id=end_user_id,
                    resources=request.details[RESOURCES],
                    purpose=request.details[PURPOSE],
                    valid_to=dt.datetime.fromisoformat(request.details[VALID_TO]),
                    one_time=bool(request.details[ONE_TIME]),
                    code_hash=_code_hash(code),
                    code_expires_at=now + CODE_LIFETIME,
                ),
                now=now,
                actor=f"end_user:{end_user_id}",
            )
            event = _event(EventType.CONSENT_ACCEPTED, requestId=request.id, consentId=consent_id)
            enqueue_webhooks(conn, request.party_id, [event], now=now)
        elif decided.decided_now:
            event = _event(EventType.CONSENT_REJECTED, requestId=request.id)
            enqueue_webhooks(conn, request.party_id, [event], now=now)
    if not decided.decided_now:
        raise _no_longer_pending(request.status)
    return Answered(str(request.details[REDIRECT_URL]), code)


def _invalid_grant(detail: str) -> DomainError:
    return DomainError(Code.CONSENT_GRANT_INVALID, detail)


def _token_body(hub: Services, party: PartyRecord, consent: TokenConsent) -> dict[str, Any]:
    token, expires_in = tokens.issue(
        hub.settings,
        hub.keys,
        consent_id=consent.id,
        client_id=party.client_id,
        covered_by=consent.party_orgnr,
        offered_by=consent.national_id,
        resources=consent.resources,
        delegated_at=consent.delegated_at,
        valid_to=consent.valid_to,
        now=hub.now(),
    )
    return {
        "access_token": token,
        "expires_in": expires_in,
        "token_type": "bearer",
        "consent_id": consent.id,
        # RFC 9396 §7: the token response says what the token authorizes.
        "authorization_details": tokens.authorization_details(consent.id),
    }


def _live(consent: ConsentRecord | TokenConsent, now: dt.datetime) -> bool:
    return rules.is_live(
        valid_to=consent.valid_to,
        withdrawn_at=consent.withdrawn_at,
        revoked_at=consent.revoked_at,
        now=now,
    )


async def exchange_code(
    hub: Services, party: PartyRecord, params: Mapping[str, str]
) -> dict[str, Any]:
    """``grant_type=authorization_code`` (RFC 6749 §4.1.3): the consumer's code for a
    consent token. The code works once, for 60 s, for the client it was issued to; a
    second use revokes the consent it produced (RFC 6749 §4.1.2), so that no more tokens
    are issued for it. The token endpoint's hot path: one transaction off the event loop,
    the token signed on it."""
    code = params.get("code")
    if not code:
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "code is required")
    now = hub.now()

    def judge(conn: Connection) -> TokenConsent | str:
        consent = store.for_code(conn, hub.ids, _code_hash(code))
        if consent is None or consent.party_id != party.id:
            return "unknown code"
        if consent.code_used_at is not None:
            if consent.revoked_at is None:
                store.revoke(conn, consent, now=now, reason="authorization code used twice")
                event = _event(
                    EventType.CONSENT_REVOKED, consentId=consent.id, reason="code_reused"
                )
                enqueue_webhooks(conn, consent.party_id, [event], now=now)
            # Returned, not raised, so that the revocation is kept.
            return "code already used"
        if consent.code_expires_at <= now:
            return "code expired"
        if not _live(consent, now):
            return "consent no longer live"
        store.code_used(conn, consent, now=now, spend=consent.one_time)
        if consent.one_time:
            event = _event(EventType.CONSENT_USED, consentId=consent.id)
            enqueue_webhooks(conn, consent.party_id, [event], now=now)
        return consent

    judged = await hub.database.transact(judge)
    if isinstance(judged, str):
        raise _invalid_grant(judged)
    return _token_body(hub, party, judged)


async def fresh_token(
    hub: Services, party: PartyRecord, details: Mapping[str, Any]
) -> dict[str, Any]:
    """A fresh consent token for a live consent of the client (RFC 9396
    ``authorization_details`` ``[{"type": "urn:altinn:consent", "id": <consent id>}]``);
    none after withdrawal, expiry, revocation or the first token of a one-time consent."""
    consent_id = details.get("id")
    if not isinstance(consent_id, str):
        raise DomainError(Code.TOKEN_REQUEST_INVALID, "authorization_details id is required")
    if not _is_uuid(consent_id):
        raise _invalid_grant("unknown consent")
    now = hub.now()
    # One statement, no write: read where it costs least (on SQLite on the event loop).
    consent = await hub.database.quick_read(lambda conn: store.for_token(conn, hub.ids, consent_id))
    if consent is None or consent.party_id != party.id:
        raise _invalid_grant("unknown consent")
    if not rules.may_issue_token(
        live=_live(consent, now), one_time=consent.one_time, used_at=consent.used_at
    ):
        raise _invalid_grant("consent no longer live")
    return _token_body(hub, party, consent)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def introspect(hub: Services, party: PartyRecord, token: str) -> dict[str, Any] | None:
    """RFC 7662 for consent tokens: the claims while the token verifies and its consent
    lives, to the consumer it was issued to and to data sources; None otherwise."""
    now = hub.now()
    try:
        claims = tokens.decode(token, hub.settings, hub.keys, now)
    except tokens.InvalidConsentToken:
        return None
    may_see = claims.get("client_id") == party.client_id or ApiScope.INTROSPECT in allowed_scopes(
        party.roles
    )
    if not may_see:
        return None
    with hub.database.read() as conn:
        consent = store.load(conn, str(claims["consent_id"]))
    if consent is None or not _live(consent, now):
        return None
    return claims


@dataclass(frozen=True)
class PersonsConsent:
    consent: ConsentRecord
    live: bool
    titles: dict[str, ConsentResource]


def consents_of(hub: Services, end_user_id: int) -> list[PersonsConsent]:
    """The person's consents, newest first, with whether each still lives."""
    now = hub.now()
    with hub.database.read() as conn:
        found = store.of_end_user(conn, end_user_id)
        codes = sorted({code for consent in found for code in consent.resources})
        resources = {
            resource.code: resource for resource in registry.consent_resources(conn, codes)
        }
    return [
        PersonsConsent(
            consent, _live(consent, now), {code: resources[code] for code in consent.resources}
        )
        for consent in found
    ]


def live_consent_of(hub: Services, consent_id: str, end_user_id: int) -> PersonsConsent:
    """The person's own live consent, for the withdrawal page."""
    for found in consents_of(hub, end_user_id):
        if found.consent.id == consent_id and found.live:
            return found
    raise DomainError(Code.CONSENT_NOT_FOUND, N_("There is no such consent to withdraw."))


def withdraw(hub: Services, consent_id: str, end_user_id: int) -> None:
    """The person withdraws their consent (SPEC §7): from now on introspection says
    inactive and no new token is issued; the consumer is told."""
    now = hub.now()
    with hub.database.write() as conn:
        consent = store.load(conn, consent_id, lock=True) if _is_uuid(consent_id) else None
        if consent is None or consent.end_user_id != end_user_id or not _live(consent, now):
            raise DomainError(Code.CONSENT_NOT_FOUND, N_("There is no such consent to withdraw."))
        store.withdraw(conn, consent, now=now)
        event = _event(EventType.CONSENT_REVOKED, consentId=consent.id, reason="withdrawn")
        enqueue_webhooks(conn, consent.party_id, [event], now=now)


def expire_due(hub: Services) -> int:
    """Record every consent past its ValidToDate as expired and tell its consumer
    (``consent.expired``); returns how many. Tokens and introspection judge the time
    themselves, so this only tells. Safe with several workers at once."""
    now = hub.now()
    expired = 0
    while True:
        with hub.database.write() as conn:
            due = store.live_past_valid_to(conn, now, EXPIRY_BATCH)
            for consent in due:
                store.expire(conn, consent, now=now)
                event = _event(EventType.CONSENT_EXPIRED, consentId=consent.id)
                enqueue_webhooks(conn, consent.party_id, [event], now=now)
        expired += len(due)
        if len(due) < EXPIRY_BATCH:
            return expired


@dataclass(frozen=True)
class ApiRequest:
    """A consent request as its consumer sees it through the API; never the person's
    identity."""

    request: AccessRequest
    consent_id: str | None


def _api_request(hub: Services, found: AccessRequest) -> ApiRequest:
    with hub.database.read() as conn:
        consent = store.of_request(conn, found.id)
    return ApiRequest(found, consent.id if consent else None)


def _as_field_error(error: ConsentRequestError) -> DomainError:
    """A link rule broken, said the API's way: ``errors: [{field, rule}]``, the field being
    the parameter's name (the API takes the link's parameters)."""
    name = error.params.get("name", "body")
    rule = (error.detail or "") % error.params
    return DomainError(Code.CONSENT_REQUEST_INVALID, fields=[FieldError(name, rule)])


def create_from_api(
    hub: Services, client_id: str, request_id: str, document: Mapping[str, str]
) -> tuple[ApiRequest, bool]:
    """The consumer's consent request by API, under its own ``id``: the link's parameters
    as a JSON object, ``CoveredBy`` being the caller. The same ``id`` again answers the
    request made with it (and ``False``: nothing new)."""
    try:
        canonical = validate_uuid(request_id)
    except InvalidIdentifier:
        raise DomainError.invalid("id", "must be a UUID") from None
    with hub.database.read() as conn:
        party = registry.find_by_client_id(conn, client_id)
    assert party is not None  # the bearer check found the caller live
    existing = access_requests.find(hub, party.id, Process.CONSENT, canonical)
    if existing is not None:
        return _api_request(hub, existing), False
    if document.get("CoveredBy", party.orgnr) != party.orgnr or party.orgnr is None:
        raise DomainError.invalid("CoveredBy", "must be the calling consumer's organisation number")
    pairs = [(name, value) for name, value in document.items() if name != "CoveredBy"]
    pairs.append(("CoveredBy", party.orgnr))
    if "ResponseType" not in document:
        pairs.append(("ResponseType", "code"))
    try:
        link = resolve_request(hub, pairs)
    except ConsentRequestError as error:
        raise _as_field_error(error) from None
    if link.consumer.id != party.id:
        raise DomainError.invalid("CoveredBy", "must be the calling consumer's organisation number")
    try:
        internal_id = create_request(hub, link, canonical)
    except IntegrityError:
        # Another call with the same id won the race: answer with its request.
        raced = access_requests.find(hub, party.id, Process.CONSENT, canonical)
        assert raced is not None
        return _api_request(hub, raced), False
    created = access_requests.get(hub, internal_id)
    assert created is not None
    return _api_request(hub, created), True


def of_consumer(hub: Services, party_id: int, request_id: str) -> ApiRequest:
    """The consumer's own request by its ``id``; another's is not found alike."""
    try:
        canonical = validate_uuid(request_id)
    except InvalidIdentifier:
        raise DomainError.invalid("id", "must be a UUID") from None
    found = access_requests.find(hub, party_id, Process.CONSENT, canonical)
    if found is None:
        raise DomainError(Code.REQUEST_NOT_FOUND)
    return _api_request(hub, found)
