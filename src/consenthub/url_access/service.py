"""Use cases of URL-initiated third-party access (seed 000, Elhub BRS-NO-624). Each owns
its transaction; the request itself lives in the shared ``access_requests`` lifecycle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from consenthub import access_requests, registry
from consenthub.access_requests import AccessRequest, NewAccessRequest
from consenthub.domain.access import Process, Scope, Status
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.identifiers import InvalidIdentifier, validate_gln, validate_uuid
from consenthub.domain.messages import N_
from consenthub.services import Services
from consenthub.url_access import rules
from consenthub.url_access.errors import LinkError

# Where the return address is kept in the request's process details.
RETURN_ADDRESS = "redirect_uri"
# Who turned a request back after a failed login: the browser that followed the link.
ABANDON_ACTOR = "browser"


@dataclass(frozen=True)
class Link:
    """A valid authorize link: who asks, for what, and where the answer goes."""

    party: registry.PartyRecord
    party_gln: str
    request_id: str
    scope: Scope
    redirect_uri: str


def resolve_link(hub: Services, pairs: Sequence[tuple[str, str]]) -> Link:
    """The link's party, request_id, scope and return address, or a ``LinkError`` naming
    what is wrong (seed 000 §4.1–§4.2)."""
    params = rules.single_parameters(pairs)
    try:
        gln = validate_gln(params.get("client_id", ""))
    except InvalidIdentifier:
        raise LinkError(N_("client_id must be the third party's GLN (13 digits).")) from None
    with hub.database.read() as conn:
        party = registry.find_by_gln(conn, gln)
        registered = registry.return_urls(conn, party.id) if party else []
    if party is None:
        raise LinkError(N_("The third party is not registered with the hub."))
    rules.may_ask(party.active, party.roles)
    redirect_uri = rules.return_address(registered, params.get("redirect_uri"))
    try:
        request_id = validate_uuid(params.get("request_id", ""))
    except InvalidIdentifier:
        raise LinkError(N_("request_id must be a UUID.")) from None
    return Link(party, gln, request_id, rules.scope_of(params.get("scope")), redirect_uri)


def open_link(hub: Services, link: Link, person: int | None) -> AccessRequest | None:
    """The request the link asks, new or (opened again, unchanged, by the same person)
    continued; None when its ``request_id`` is spent (``EH098``)."""
    deadline = hub.now() + dt.timedelta(hours=hub.settings.url_request_deadline_hours)
    created = access_requests.create(
        hub,
        NewAccessRequest(
            process=Process.URL,
            party_id=link.party.id,
            request_id=link.request_id,
            scope=link.scope,
            deadline=deadline,
            details={RETURN_ADDRESS: link.redirect_uri},
        ),
        actor=f"party:{link.party.id}",
    )
    if created is not None:
        return created
    existing = access_requests.find(hub, link.party.id, Process.URL, link.request_id)
    if existing is not None and rules.continues(
        pending=existing.status is Status.PENDING,
        same_scope=existing.scope == link.scope,
        same_return_address=return_address(existing) == link.redirect_uri,
        owner=existing.end_user_id,
        person=person,
    ):
        return existing
    return None


def abandon(hub: Services, internal_id: str, code: Code) -> AccessRequest:
    """ "Return to <party>" after a failed login (seed 000, ``EH088`` when the person
    cancelled, ``EH111`` when the login failed): the request ends with the answer the
    party is sent, and stays so (``access_requests.turn_back``); one already answered comes
    back as it was. Nobody is logged in, so the audit log names the browser, not a person."""
    return access_requests.turn_back(hub, internal_id, code, actor=ABANDON_ACTOR).request


def return_address(request: AccessRequest) -> str:
    return str(request.details[RETURN_ADDRESS])


def result(hub: Services, party_id: int, request_id: str) -> AccessRequest:
    """The party's own request by its ``request_id`` (seed 000 §4.6), expired when its
    deadline passed unanswered."""
    try:
        canonical = validate_uuid(request_id)
    except InvalidIdentifier:
        raise DomainError.invalid("request_id", "must be a UUID") from None
    found = access_requests.find(hub, party_id, Process.URL, canonical)
    if found is None:
        raise DomainError(Code.ACCESS_REQUEST_UNKNOWN)
    return found
