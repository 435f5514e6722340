"""All SQL of BRS-NO-622: the facts of a message's metering points in a few statements,
and the received messages with their acknowledgements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, or_, select

from consenthub import access_requests
from consenthub.access_updates.rules import Contract, PointFacts
from consenthub.domain.errors import Code, DomainError, ItemResult
from consenthub.store.prepared import db_instant
from consenthub.store.sql import among
from consenthub.store.tables import AccessUpdateMessage, Grant, MeteringPoint, SupplyPeriod


def point_facts(
    conn: Connection, party_id: int, gsrns: Sequence[str], today: dt.date
) -> dict[str, tuple[int, PointFacts]]:
    """By GSRN: the metering point's id and its facts on ``today`` for the party (its end
    user then, the party's live grant on it, whether the party has a request pending on
    it). A GSRN not in the hub is absent. One statement, whatever the message holds."""
    rows = conn.execute(
        select(
            MeteringPoint.id,
            MeteringPoint.gsrn,
            MeteringPoint.settlement_point,
            SupplyPeriod.end_user_id,
            SupplyPeriod.move_in,
            Grant.id.label("grant_id"),
            Grant.valid_from,
            Grant.valid_to,
            access_requests.pending_on(party_id, MeteringPoint.id).label("pending"),
        )
        .outerjoin(
            SupplyPeriod,
            and_(
                SupplyPeriod.metering_point_id == MeteringPoint.id,
                SupplyPeriod.move_in <= today,
                or_(SupplyPeriod.move_out.is_(None), SupplyPeriod.move_out > today),
            ),
        )
        .outerjoin(
            Grant,
            and_(
                Grant.metering_point_id == MeteringPoint.id,
                Grant.party_id == party_id,
                Grant.revoked_at.is_(None),
                or_(Grant.valid_to.is_(None), Grant.valid_to > today),
            ),
        )
        .where(among(conn, MeteringPoint.gsrn, gsrns))
        .order_by(MeteringPoint.gsrn, Grant.id)
    ).all()
    found: dict[str, tuple[int, PointFacts]] = {}
    # Rows as plain tuples: 10,000 of them, and a row's attributes cost more to look up.
    for point_id, gsrn, settlement, end_user_id, move_in, grant_id, start, end, pending in rows:
        if gsrn in found:
            continue  # a second live grant of the party: the first one answers
        contract = None if grant_id is None else Contract(grant_id, start, end)
        found[gsrn] = (
            point_id,
            PointFacts(True, bool(settlement), end_user_id, move_in, contract, bool(pending)),
        )
    return found


def acknowledgement(conn: Connection, party_id: int, message_id: str) -> list[ItemResult] | None:
    """The per-item results a message with this id from this party was answered."""
    stored: dict[str, Any] | None = conn.execute(
        select(AccessUpdateMessage.acknowledgement).where(
            AccessUpdateMessage.party_id == party_id,
            AccessUpdateMessage.message_id == message_id,
        )
    ).scalar_one_or_none()
    if stored is None:
        return None
    return [
        ItemResult(
            item["meteringPointId"],
            DomainError(Code(item["code"])) if item.get("code") else None,
            item.get("requestId"),
        )
        for item in stored["items"]
    ]


# The acknowledgement of up to 10,000 items as one JSON value written by orjson (in C),
# on the driver's cursor: SQLAlchemy's JSON type would run the standard library's
# encoder over it.
_SAVE_MESSAGE_POSTGRESQL = (
    "INSERT INTO access_update_messages (party_id, message_id, received_at, acknowledgement)"
    " VALUES (%(party_id)s, %(message_id)s, %(received_at)s, %(acknowledgement)s::json)"
)
_SAVE_MESSAGE_SQLITE = (
    "INSERT INTO access_update_messages (party_id, message_id, received_at, acknowledgement)"
    " VALUES (?, ?, ?, ?)"
)


def save_message(
    conn: Connection,
    party_id: int,
    message_id: str,
    results: Sequence[ItemResult],
    now: dt.datetime,
) -> None:
    """Keep the results of ``message_id`` (a second message with the same id from the same
    party raises ``IntegrityError``: the first wins)."""
    acknowledgement = orjson.dumps(
        {
            "items": [
                {
                    "meteringPointId": result.key,
                    "code": result.error.code.value if result.error else None,
                    "requestId": result.reference,
                }
                for result in results
            ]
        }
    ).decode()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            _SAVE_MESSAGE_POSTGRESQL,
            {
                "party_id": party_id,
                "message_id": message_id,
                "received_at": db_instant(now, sqlite=False),
                "acknowledgement": acknowledgement,
            },
        )
        return
    conn.exec_driver_sql(
        _SAVE_MESSAGE_SQLITE,
        (party_id, message_id, db_instant(now, sqlite=True), acknowledgement),
    )
