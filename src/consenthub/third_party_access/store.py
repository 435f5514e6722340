"""Storage of URL-initiated access requests (BRS-NO-624) and the grants they create."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from consenthub.domain.access_requests import Process, Scope, Status, decide
from consenthub.store import audit
from consenthub.store.grants import NewGrant, create_grants
from consenthub.store.tables import AccessRequest, Grant, MeteringPoint, Party, SupplyPeriod


@dataclass(frozen=True)
class UrlRequest:
    id: str
    party_id: int
    party_name: str
    party_gln: str
    request_id: str
    scope: Scope
    status: Status
    end_user_id: int | None
    redirect_uri: str
    response: dict[str, Any] | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class OwnedMeteringPoint:
    id: int
    gsrn: str
    address: str | None
    postcode: str | None
    city: str | None
    move_in: dt.date


def _select() -> Any:
    return (
        select(AccessRequest, Party.name.label("party_name"), Party.gln.label("party_gln"))
        .join(Party, Party.id == AccessRequest.party_id)
        .where(AccessRequest.process == Process.URL)
    )


def _record(row: Any) -> UrlRequest:
    details = row.details or {}
    return UrlRequest(
        id=row.id,
        party_id=row.party_id,
        party_name=row.party_name,
        party_gln=row.party_gln,
        request_id=row.request_id,
        scope=Scope(row.scope),
        status=Status(row.status),
        end_user_id=row.end_user_id,
        redirect_uri=details["redirect_uri"],
        response=details.get("response"),
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def find(conn: Connection, party_id: int, request_id: str) -> UrlRequest | None:
    row = conn.execute(
        _select().where(AccessRequest.party_id == party_id, AccessRequest.request_id == request_id)
    ).first()
    return None if row is None else _record(row)


def load(conn: Connection, internal_id: str, *, lock: bool = False) -> UrlRequest | None:
    query = _select().where(AccessRequest.id == internal_id)
    if lock:
        query = query.with_for_update(of=AccessRequest)
    row = conn.execute(query).first()
    return None if row is None else _record(row)


def create(
    conn: Connection,
    *,
    party_id: int,
    request_id: str,
    scope: Scope,
    redirect_uri: str,
    deadline: dt.datetime,
) -> UrlRequest | None:
    """A new pending request, or None when this party already used ``request_id``."""
    try:
        with conn.begin_nested():
            internal_id = conn.execute(
                insert(AccessRequest)
                .values(
                    party_id=party_id,
                    request_id=request_id,
                    process=Process.URL,
                    scope=scope,
                    status=Status.PENDING,
                    deadline=deadline,
                    created_at=dt.datetime.now(dt.UTC),
                    details={"redirect_uri": redirect_uri},
                )
                .returning(AccessRequest.id)
            ).scalar_one()
    except IntegrityError:
        return None
    audit.append(
        conn,
        actor=f"party:{party_id}",
        action="access_request.created",
        subject=f"access_request:{internal_id}",
        details={"process": Process.URL.value, "request_id": request_id, "scope": scope.value},
    )
    found = load(conn, internal_id)
    assert found is not None
    return found


def bind_end_user(conn: Connection, internal_id: str, end_user_id: int) -> bool:
    """The first person to open the request after login owns it; others never can."""
    conn.execute(
        update(AccessRequest)
        .where(AccessRequest.id == internal_id, AccessRequest.end_user_id.is_(None))
        .values(end_user_id=end_user_id)
    )
    owner = conn.execute(
        select(AccessRequest.end_user_id).where(AccessRequest.id == internal_id)
    ).scalar_one()
    return bool(owner == end_user_id)


def current_metering_points(
    conn: Connection, end_user_id: int, today: dt.date
) -> list[OwnedMeteringPoint]:
    """Metering points the end user lives on today (their supply period is open)."""
    rows = conn.execute(
        select(
            MeteringPoint.id,
            MeteringPoint.gsrn,
            MeteringPoint.address,
            MeteringPoint.postcode,
            MeteringPoint.city,
            SupplyPeriod.move_in,
        )
        .join(SupplyPeriod, SupplyPeriod.metering_point_id == MeteringPoint.id)
        .where(
            SupplyPeriod.end_user_id == end_user_id,
            SupplyPeriod.move_in <= today,
            (SupplyPeriod.move_out.is_(None)) | (SupplyPeriod.move_out > today),
        )
        .order_by(MeteringPoint.gsrn)
    ).all()
    return [
        OwnedMeteringPoint(r.id, r.gsrn, r.address, r.postcode, r.city, r.move_in) for r in rows
    ]


def _finish(
    conn: Connection, request: UrlRequest, status: Status, response: dict[str, Any], actor: str
) -> None:
    decide(request.status, status)
    conn.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request.id)
        .values(
            status=status,
            decided_at=dt.datetime.now(dt.UTC),
            details={"redirect_uri": request.redirect_uri, "response": response},
        )
    )
    audit.append(
        conn,
        actor=actor,
        action=f"access_request.{status.value}",
        subject=f"access_request:{request.id}",
        details={"request_id": request.request_id},
    )


def approve(
    conn: Connection,
    request: UrlRequest,
    end_user_id: int,
    chosen: list[OwnedMeteringPoint],
    scope: Scope,
    end: dt.date | None,
    today: dt.date,
) -> list[dict[str, str | None]]:
    """Grants from each metering point's move-in date; the contracts of the response.

    A party that already holds a live grant from this end user on a metering
    point gets it updated (scope, end) rather than a second one.
    """
    actor = f"end_user:{end_user_id}"
    # Set-based: an end user may approve a hundred metering points in one post.
    existing: dict[int, int] = {
        metering_point_id: grant_id
        for metering_point_id, grant_id in conn.execute(
            select(Grant.metering_point_id, Grant.id).where(
                Grant.party_id == request.party_id,
                Grant.metering_point_id.in_([point.id for point in chosen]),
                Grant.end_user_id == end_user_id,
                Grant.revoked_at.is_(None),
                (Grant.valid_to.is_(None)) | (Grant.valid_to > today),
            )
        ).all()
    }
    create_grants(
        conn,
        [
            NewGrant(
                request.party_id, point.id, end_user_id, scope.value, point.move_in, end, request.id
            )
            for point in chosen
            if point.id not in existing
        ],
        actor=actor,
    )
    updated = [existing[point.id] for point in chosen if point.id in existing]
    if updated:
        conn.execute(
            update(Grant)
            .where(Grant.id.in_(updated))
            .values(scope=scope.value, valid_to=end, access_request_id=request.id)
        )
        details = {"scope": scope.value, "valid_to": end.isoformat() if end else None}
        audit.append_many(
            conn,
            [
                audit.Event(actor, "grant.updated", f"grant:{grant_id}", details)
                for grant_id in updated
            ],
        )
    contracts: list[dict[str, str | None]] = [
        {
            "meteringPointId": point.gsrn,
            "start": point.move_in.isoformat(),
            "end": end.isoformat() if end else None,
        }
        for point in chosen
    ]
    _finish(conn, request, Status.APPROVED, {"scope": scope.value, "contracts": contracts}, actor)
    return contracts


def refuse(conn: Connection, request: UrlRequest, error: dict[str, str], actor: str) -> None:
    """End the request without grants: rejected by the end user (EH088) or nothing to grant
    (EH106)."""
    _finish(conn, request, Status.REJECTED, {"error": error}, actor)
