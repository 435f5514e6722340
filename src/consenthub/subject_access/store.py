"""All SQL of the access report (GDPR art. 15): a person's or a party's grants, requests,
consents, access-log entries and the audit events about them, as JSON-ready rows (the
report is written out as it is, so its rows are mappings, not dataclasses)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, select

from consenthub.observability import mask_personal_ids
from consenthub.store.tables import (
    AccessLogEntry,
    AccessRequest,
    AuditEvent,
    Consent,
    EndUser,
    Grant,
    MeteringPoint,
    Party,
    SupplyPeriod,
)

Rows = list[dict[str, Any]]
# Audit events are read in pages of this many, oldest first.
AUDIT_PAGE = 5000


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _rows(conn: Connection, statement: Select[*tuple[Any, ...]]) -> Rows:
    return [
        {key: _plain(value) for key, value in row._mapping.items()}
        for row in conn.execute(statement)
    ]


def end_user(conn: Connection, end_user_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(EndUser.id, EndUser.kind, EndUser.name).where(EndUser.id == end_user_id)
    ).one()
    return dict(row._mapping)


def supply_periods(conn: Connection, end_user_id: int) -> Rows:
    return _rows(
        conn,
        select(MeteringPoint.gsrn, SupplyPeriod.move_in, SupplyPeriod.move_out)
        .join(MeteringPoint, MeteringPoint.id == SupplyPeriod.metering_point_id)
        .where(SupplyPeriod.end_user_id == end_user_id)
        .order_by(SupplyPeriod.move_in, MeteringPoint.gsrn),
    )


def grants(conn: Connection, where: ColumnElement[bool]) -> Rows:
    return _rows(
        conn,
        select(
            Grant.id,
            Party.client_id.label("party_client_id"),
            Party.name.label("party_name"),
            Grant.end_user_id,
            MeteringPoint.gsrn,
            Grant.scope,
            Grant.valid_from,
            Grant.valid_to,
            Grant.created_at,
            Grant.revoked_at,
            Grant.ended_reason,
            Grant.access_request_id,
        )
        .join(Party, Party.id == Grant.party_id)
        .join(MeteringPoint, MeteringPoint.id == Grant.metering_point_id)
        .where(where)
        .order_by(Grant.id),
    )


def access_requests(conn: Connection, where: ColumnElement[bool]) -> Rows:
    found = _rows(
        conn,
        select(
            AccessRequest.id,
            Party.client_id.label("party_client_id"),
            Party.name.label("party_name"),
            AccessRequest.end_user_id,
            AccessRequest.request_id,
            AccessRequest.process,
            AccessRequest.scope,
            AccessRequest.status,
            AccessRequest.deadline,
            AccessRequest.created_at,
            AccessRequest.decided_at,
            AccessRequest.details,
        )
        .join(Party, Party.id == AccessRequest.party_id)
        .where(where)
        .order_by(AccessRequest.created_at, AccessRequest.id),
    )
    for request in found:
        # A party's free text (DH-831's description) could name anyone: masked.
        details = {
            key: value
            for key, value in (request["details"] or {}).items()
            if key not in ("offered_by", "user_token")  # keyed hashes: nothing to read
        }
        request["details"] = _masked(details)
    return found


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal_ids(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def consents(conn: Connection, where: ColumnElement[bool]) -> Rows:
    return _rows(
        conn,
        select(
            Consent.id,
            Party.client_id.label("party_client_id"),
            Party.name.label("party_name"),
            Consent.end_user_id,
            Consent.access_request_id,
            Consent.resources,
            Consent.purpose,
            Consent.valid_to,
            Consent.one_time,
            Consent.delegated_at,
            Consent.used_at,
            Consent.withdrawn_at,
            Consent.revoked_at,
            Consent.expired_at,
        )
        .join(Party, Party.id == Consent.party_id)
        .where(where)
        .order_by(Consent.delegated_at, Consent.id),
    )


def access_log(conn: Connection, where: ColumnElement[bool]) -> Rows:
    return _rows(
        conn,
        select(
            AccessLogEntry.at,
            Party.client_id.label("party_client_id"),
            Party.name.label("party_name"),
            AccessLogEntry.end_user_id,
            MeteringPoint.gsrn,
            AccessLogEntry.what,
            AccessLogEntry.period_from,
            AccessLogEntry.period_to,
            AccessLogEntry.correlation_id,
        )
        .join(Party, Party.id == AccessLogEntry.party_id)
        .join(MeteringPoint, MeteringPoint.id == AccessLogEntry.metering_point_id)
        .where(where)
        .order_by(AccessLogEntry.at, AccessLogEntry.id),
    )


def audit_events(conn: Connection, subjects: Iterable[str], actors: Iterable[str]) -> Rows:
    """Every event about one of ``subjects`` or by one of ``actors``, oldest first. The log
    is read once, page by page: a party's subjects can be millions, too many for an IN."""
    wanted_subjects, wanted_actors = set(subjects), set(actors)
    found: Rows = []
    after = 0
    while True:
        page = conn.execute(
            select(AuditEvent)
            .where(AuditEvent.id > after)
            .order_by(AuditEvent.id)
            .limit(AUDIT_PAGE)
        ).all()
        if not page:
            return found
        for event in page:
            if event.subject in wanted_subjects or event.actor in wanted_actors:
                found.append(
                    {
                        "id": event.id,
                        "at": _plain(event.at),
                        "actor": event.actor,
                        "action": event.action,
                        "subject": event.subject,
                        "details": event.details,
                        "hash": event.hash,
                    }
                )
        after = page[-1].id
