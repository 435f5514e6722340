"""Use cases of authorization requests from a seller (seed 003, Fingrid Datahub DH-831,
cancelled with DH-851). The request lives in the shared ``access_requests`` lifecycle;
its mails go through the outbox in the transaction that creates it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from consenthub import access_requests, outbox
from consenthub.access_requests import AccessRequest, NewAccessRequest
from consenthub.authorization_requests import rules, store
from consenthub.authorization_requests.errors import Problem, RequestRejected
from consenthub.authorization_requests.schemas import NewAuthorizationRequest
from consenthub.domain.access import Process, Scope, Status
from consenthub.domain.errors import Code, DomainError
from consenthub.services import Services

# An authorization shows the seller the customer's data in full (DH-831 asks for the
# seller's business need, not a limited view).
AUTHORIZATION_SCOPE = Scope.FULL
NOTICE = "mail.authorization_request.notice"
REMINDER = "mail.authorization_request.reminder"
# Statuses as Fingrid's Datahub names them.
STATUS_NAMES = {
    Status.PENDING: "Open",
    Status.APPROVED: "Approved",
    Status.REJECTED: "Rejected",
    Status.CLOSED: "Rejected",
    Status.EXPIRED: "Expired",
    Status.CANCELLED: "Cancelled",
}
STATUSES_BY_NAME = {
    "Open": Status.PENDING,
    "Approved": Status.APPROVED,
    "Rejected": Status.REJECTED,
    "Expired": Status.EXPIRED,
    "Cancelled": Status.CANCELLED,
}


@dataclass(frozen=True)
class Seller:
    party_id: int
    name: str


def _deadline(hub: Services, last_day: dt.date) -> dt.datetime:
    """The end of the last day the customer may answer, in the hub's time zone."""
    next_midnight = dt.datetime.combine(
        last_day + dt.timedelta(days=1), dt.time(), tzinfo=hub.settings.zone
    )
    return next_midnight.astimezone(dt.UTC)


def create(hub: Services, seller: Seller, asked: NewAuthorizationRequest) -> AccessRequest:
    """A new open request, its notice mail and its reminder (when a recipient is given),
    in one transaction; or ``RequestRejected`` with every rule it broke, storing nothing.
    Two requests racing for an accounting point: the database lets one in, the other is
    judged again and rejected (CH4206)."""
    try:
        return _create(hub, seller, asked)
    except IntegrityError:
        return _create(hub, seller, asked)


def _create(hub: Services, seller: Seller, asked: NewAuthorizationRequest) -> AccessRequest:
    now, today = hub.now(), hub.today()
    last_day, end_problem = rules.request_end(asked.request_end, today)
    deadline = _deadline(hub, last_day)
    with hub.database.write() as conn:
        customer = store.customer_points(
            conn, hub.ids, asked.customer, asked.accounting_points, asked.valid_from
        )
        problems: list[Problem | None] = [
            rules.valid_from_in_range(asked.valid_from, today),
            rules.valid_to_after_from(asked.valid_from, asked.valid_to),
            end_problem,
            rules.reminder_fits(
                asked.reminder_at,
                has_recipient=asked.recipient is not None,
                now=now,
                deadline=deadline,
            ),
            *rules.points_belong(asked.accounting_points, customer.owned),
            *rules.not_asked_already(
                asked.accounting_points,
                _pending_gsrns(conn, seller.party_id, customer.owned),
            ),
        ]
        broken = [problem for problem in problems if problem is not None]
        if broken:
            raise RequestRejected(broken)
        assert customer.end_user_id is not None  # every point is the customer's
        request_id = str(uuid.uuid4())
        [internal_id] = access_requests.open_requests(
            conn,
            [
                NewAccessRequest(
                    process=Process.AUTHORIZATION_REQUEST,
                    party_id=seller.party_id,
                    request_id=request_id,
                    scope=AUTHORIZATION_SCOPE,
                    deadline=deadline,
                    details={
                        access_requests.ITEMS: {
                            gsrn: {
                                "start": asked.valid_from.isoformat(),
                                "end": asked.valid_to.isoformat() if asked.valid_to else None,
                            }
                            for gsrn in asked.accounting_points
                        },
                        "validFrom": asked.valid_from.isoformat(),
                        "validTo": asked.valid_to.isoformat() if asked.valid_to else None,
                        "reason": asked.reason,
                        "description": asked.description,
                    },
                    metering_point_ids=tuple(
                        customer.owned[gsrn] for gsrn in asked.accounting_points
                    ),
                    end_user_id=customer.end_user_id,
                )
            ],
            now=now,
            actor=f"party:{seller.party_id}",
        )
        if asked.recipient is not None:
            _mail(hub, conn, seller, asked, internal_id, deadline, now)
    return get(hub, seller.party_id, request_id)


def _pending_gsrns(conn: Connection, party_id: int, owned: dict[str, int]) -> set[str]:
    pending = access_requests.pending_metering_points(conn, party_id, list(owned.values()))
    return {gsrn for gsrn, metering_point_id in owned.items() if metering_point_id in pending}


def _mail(
    hub: Services,
    conn: Connection,
    seller: Seller,
    asked: NewAuthorizationRequest,
    internal_id: str,
    deadline: dt.datetime,
    now: dt.datetime,
) -> None:
    """The notice now and the reminder at ``reminderAt`` (seed 003: "mikäli valtuutuspyyntö
    on edelleen avoin muistutusajankohtana" — a decision voids it)."""
    recipient = asked.recipient
    assert recipient is not None
    mail = outbox.Mail(
        template="authorization_request_notice",
        to_address=recipient.email,
        to_name=recipient.name,
        language=recipient.language or hub.settings.default_language,
        context={
            "seller_name": seller.name,
            "customer_name": recipient.name,
            "accounting_points": asked.accounting_points,
            "valid_from": asked.valid_from.isoformat(),
            "valid_to": asked.valid_to.isoformat() if asked.valid_to else None,
            "reason": asked.reason,
            "description": asked.description,
            "link": f"{hub.settings.base_url}/minside/requests/{internal_id}",
            "expires_at": deadline.isoformat(),
        },
    )
    subject = access_requests.subject_of(internal_id)
    outbox.enqueue_mail(
        conn,
        mail,
        event_type=NOTICE,
        due_at=now,
        now=now,
        subject=subject,
        party_id=seller.party_id,
    )
    if asked.reminder_at is not None:
        outbox.enqueue_mail(
            conn,
            outbox.Mail(
                "authorization_request_reminder",
                mail.to_address,
                mail.to_name,
                mail.language,
                mail.context,
            ),
            event_type=REMINDER,
            due_at=asked.reminder_at,
            now=now,
            subject=subject,
            party_id=seller.party_id,
        )


def get(hub: Services, party_id: int, request_id: str) -> AccessRequest:
    """The seller's own request by its id; another's or an unknown one is not found."""
    found = access_requests.find(hub, party_id, Process.AUTHORIZATION_REQUEST, request_id)
    if found is None:
        raise DomainError(Code.REQUEST_NOT_FOUND)
    return found


def cancel(hub: Services, party_id: int, request_id: str) -> AccessRequest:
    """DH-851: the seller cancels its own open request; its pending reminder is voided. A
    closed one is a rejected ACK (CH4006)."""
    found = get(hub, party_id, request_id)
    return access_requests.cancel(hub, found.id, party_id, actor=f"party:{party_id}")


def listing(
    hub: Services,
    party_id: int,
    *,
    status: Status | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> tuple[list[AccessRequest], tuple[dt.datetime, str] | None]:
    return access_requests.of_party(
        hub,
        party_id,
        [Process.AUTHORIZATION_REQUEST],
        status=status,
        after=after,
        limit=limit,
    )
