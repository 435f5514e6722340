"""All SQL of the worker's housekeeping. Every function runs in the caller's transaction;
those that change rows change a bounded number, so that a use case commits in batches.

Several workers may run these at once. Rows that are changed one by one are locked and,
on PostgreSQL, skipped by the other workers (``FOR UPDATE SKIP LOCKED``; SQLite has one
writer at a time); deletes are set-based, and a row two workers both mean to delete is
deleted by one of them and counted once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, delete, or_, select

from consenthub.store.tables import Grant, MeteringPoint, MeterValue, TokenRevocation
from consenthub.worker.rules import ValuesToPurge


def purge_token_revocations(conn: Connection, *, expired_before: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` revocations of tokens that expired before ``expired_before``
    (by the index on ``expires_at``); returns how many."""
    batch = (
        select(TokenRevocation.ref_token)
        .where(TokenRevocation.expires_at < expired_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    purged = conn.execute(delete(TokenRevocation).where(TokenRevocation.ref_token.in_(batch)))
    return purged.rowcount


def metering_points_kept_longer(conn: Connection, today: dt.date) -> set[int]:
    """The metering points a live grant asks to keep values of for the extended period:
    not revoked, ``valid_to`` open or after today (``grants.is_live``), extended storage.

    One statement for all of them: ``grants`` has no index by metering point alone, so
    asking per metering point would read the table each time.
    """
    return set(
        conn.execute(
            select(Grant.metering_point_id)
            .distinct()
            .where(
                Grant.extended_storage.is_(True),
                Grant.revoked_at.is_(None),
                or_(Grant.valid_to.is_(None), Grant.valid_to > today),
            )
        ).scalars()
    )


@dataclass(frozen=True)
class OldestValue:
    """A metering point and the start of its oldest meter value (None: it has none)."""

    metering_point_id: int
    start: int | None


def oldest_values(conn: Connection, *, after: int | None, limit: int) -> list[OldestValue]:
    """The next ``limit`` metering points by id after ``after`` (from the first when None),
    each with its oldest value's start: one probe of the (metering point, start) key each,
    never a scan of the values."""
    oldest = (
        select(MeterValue.start_ts)
        .where(MeterValue.metering_point_id == MeteringPoint.id)
        .order_by(MeterValue.start_ts)
        .limit(1)
        .scalar_subquery()
    )
    query = select(MeteringPoint.id, oldest).order_by(MeteringPoint.id).limit(limit)
    if after is not None:
        query = query.where(MeteringPoint.id > after)
    return [OldestValue(row[0], row[1]) for row in conn.execute(query)]


def purge_values(conn: Connection, values: ValuesToPurge) -> int:
    """Delete the values of ``values.metering_point_ids`` that start before
    ``values.before``: a range of the (metering point, start) key for each; returns how
    many."""
    return conn.execute(
        delete(MeterValue).where(
            MeterValue.metering_point_id.in_(values.metering_point_ids),
            MeterValue.start_ts < values.before,
        )
    ).rowcount


def grants_past_their_end(conn: Connection, today: dt.date, *, limit: int) -> list[int]:
    """Up to ``limit`` grants whose end date has come (``valid_to <= today``) that are not
    yet recorded as ended (no ``ended_reason``) and were not revoked; locked, and on
    PostgreSQL skipped while another worker holds them."""
    return list(
        conn.execute(
            select(Grant.id)
            .where(
                Grant.valid_to <= today,
                Grant.ended_reason.is_(None),
                Grant.revoked_at.is_(None),
            )
            .order_by(Grant.valid_to, Grant.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
