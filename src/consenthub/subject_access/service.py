"""Use cases of the access report (GDPR art. 15): all the hub holds about one person or
one party, as one JSON document. A person's report holds their own national id and no
one else's; a party's report names persons by the hub's internal id only."""

from __future__ import annotations

from typing import Any

from consenthub import registry
from consenthub.domain.errors import DomainError
from consenthub.services import Services
from consenthub.store import end_users
from consenthub.store.tables import AccessLogEntry, AccessRequest, Consent, Grant
from consenthub.subject_access import store


def _subjects(report: dict[str, Any]) -> set[str]:
    return (
        {f"grant:{grant['id']}" for grant in report["grants"]}
        | {f"access_request:{request['id']}" for request in report["access_requests"]}
        | {f"consent:{consent['id']}" for consent in report["consents"]}
    )


def for_end_user(hub: Services, national_id: str) -> dict[str, Any]:
    """The person with this canonical national id; ``DomainError.invalid`` naming the
    field (never the number) when the hub does not know them."""
    with hub.database.read() as conn:
        end_user_id = end_users.find(conn, hub.ids, national_id)
        if end_user_id is None:
            raise DomainError.invalid("end_user", "the hub knows no person with this number")
        person = store.end_user(conn, end_user_id)
        person["national_id"] = end_users.national_id(conn, hub.ids, end_user_id)
        report: dict[str, Any] = {
            "end_user": person,
            "supply_periods": store.supply_periods(conn, end_user_id),
            "grants": store.grants(conn, Grant.end_user_id == end_user_id),
            "access_requests": store.access_requests(
                conn, AccessRequest.end_user_id == end_user_id
            ),
            "consents": store.consents(conn, Consent.end_user_id == end_user_id),
            "access_log": store.access_log(conn, AccessLogEntry.end_user_id == end_user_id),
        }
        actor = f"end_user:{end_user_id}"
        report["audit_events"] = store.audit_events(conn, _subjects(report) | {actor}, {actor})
    return report


def for_party(hub: Services, client_id: str) -> dict[str, Any]:
    with hub.database.read() as conn:
        party = registry.find_by_client_id(conn, client_id)
        if party is None:
            raise DomainError.invalid("party", "no party has this client_id")
        report: dict[str, Any] = {
            "party": {
                "id": party.id,
                "client_id": party.client_id,
                "name": party.name,
                "gln": party.gln,
                "orgnr": party.orgnr,
                "roles": list(party.roles),
                "active": party.active,
            },
            "grants": store.grants(conn, Grant.party_id == party.id),
            "access_requests": store.access_requests(conn, AccessRequest.party_id == party.id),
            "consents": store.consents(conn, Consent.party_id == party.id),
            "access_log": store.access_log(conn, AccessLogEntry.party_id == party.id),
        }
        report["audit_events"] = store.audit_events(
            conn,
            _subjects(report) | {f"party:{party.client_id}"},
            {f"party:{party.id}", f"party:{party.client_id}"},
        )
    return report
