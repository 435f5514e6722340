"""The worker's housekeeping, at service level: the database, the services as a worker
builds them, a clock the tests move; no server.

The clock is set to noon in Oslo on 15 June 2026, so that the cutoffs are known dates:
3 years back starts at 2023-06-15 00:00 Oslo time, 10 years back at 2016-06-15.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, func, insert, select, update

from consenthub import access_requests, grants, worker
from consenthub.access_requests import NewAccessRequest
from consenthub.domain.access import EndReason, Process, Scope
from consenthub.services import Services
from consenthub.signing import CLOCK_LEEWAY_SECONDS
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.tables import (
    AuditEvent,
    Grant,
    MeterValue,
    Party,
    TokenRevocation,
)
from consenthub.worker import housekeeping, rules, store
from tests.factories import add_end_user, add_grant, add_metering_point, add_party, fnr
from tests.harness import MovableClock
from tests.outbox_events import webhook_events

OSLO = ZoneInfo("Europe/Oslo")
NOON = dt.datetime(2026, 6, 15, 12, tzinfo=OSLO)
TODAY = NOON.date()
# The first instants kept: the values starting before them are past retention.
STANDARD_CUTOFF = int(dt.datetime(2023, 6, 14, 22, tzinfo=dt.UTC).timestamp())
EXTENDED_CUTOFF = int(dt.datetime(2016, 6, 14, 22, tzinfo=dt.UTC).timestamp())
QUARTER_HOUR = 900
RECENT = int((NOON - dt.timedelta(days=1)).timestamp())
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def noon_in_oslo(clock: MovableClock) -> None:
    clock.advance(seconds=(NOON - clock()).total_seconds())


def revoke(db: Database, party_id: int, ref_token: str, expires_at: dt.datetime) -> None:
    with db.write() as conn:
        conn.execute(
            insert(TokenRevocation).values(
                ref_token=ref_token,
                party_id=party_id,
                expires_at=expires_at,
                revoked_at=expires_at - dt.timedelta(minutes=5),
            )
        )


def revoked_tokens(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(TokenRevocation.ref_token)).scalars())


def add_values(db: Database, metering_point_id: int, starts: list[int]) -> None:
    with db.write() as conn:
        conn.execute(
            insert(MeterValue),
            [{"metering_point_id": metering_point_id, "start_ts": s, "wh": 1} for s in starts],
        )


def value_starts(db: Database, metering_point_id: int) -> list[int]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(MeterValue.start_ts)
                .where(MeterValue.metering_point_id == metering_point_id)
                .order_by(MeterValue.start_ts)
            ).scalars()
        )


def count_values(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(MeterValue)).scalar_one())


def change_grant(db: Database, grant_id: int, **values: object) -> None:
    with db.write() as conn:
        conn.execute(update(Grant).where(Grant.id == grant_id).values(**values))


def set_webhook(db: Database, party_id: int) -> None:
    with db.write() as conn:
        conn.execute(
            update(Party)
            .where(Party.id == party_id)
            .values(webhook_url="https://app.example.no/webhooks")
        )


def ended_reasons(db: Database) -> dict[int, str | None]:
    with db.read() as conn:
        return {
            row.id: row.ended_reason for row in conn.execute(select(Grant.id, Grant.ended_reason))
        }


def expired_in_audit(db: Database) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(AuditEvent.subject)
                .where(AuditEvent.action == "grant.expired")
                .order_by(AuditEvent.id)
            ).scalars()
        )


def grant_ended_messages(db: Database) -> list[tuple[int, str]]:
    with db.read() as conn:
        return [
            (event.data["grantId"], event.data["reason"])
            for event in webhook_events(conn, "grant.ended")
        ]


@pytest.fixture
def party_id(db: Database) -> int:
    return add_party(db).party.id


@pytest.fixture
def kari(db: Database) -> int:
    return add_end_user(db, fnr(5, 5, 80))


# Token revocations


def test_a_revocation_is_purged_once_its_token_expired_more_than_the_leeway_ago(
    hub: Services, db: Database, clock: MovableClock, party_id: int
) -> None:
    now = hub.now()
    leeway = dt.timedelta(seconds=CLOCK_LEEWAY_SECONDS)
    margin = dt.timedelta(seconds=5)
    revoke(db, party_id, "expired-yesterday", now - DAY)
    revoke(db, party_id, "past-the-leeway", now - leeway - margin)
    # Expired, but a verifier still accepts it within the leeway: it must stay denied.
    revoke(db, party_id, "inside-the-leeway", now - leeway + margin)
    revoke(db, party_id, "live", now + dt.timedelta(minutes=10))
    assert worker.purge_token_revocations(hub) == 2
    assert revoked_tokens(db) == {"inside-the-leeway", "live"}
    assert worker.purge_token_revocations(hub) == 0
    clock.advance(seconds=2 * margin.total_seconds())
    assert worker.purge_token_revocations(hub) == 1
    assert revoked_tokens(db) == {"live"}


def test_a_revocation_expired_exactly_the_leeway_ago_is_kept(
    hub: Services, db: Database, party_id: int
) -> None:
    now = hub.now()
    at_the_margin = now - dt.timedelta(seconds=CLOCK_LEEWAY_SECONDS)
    revoke(db, party_id, "at-the-margin", at_the_margin)
    revoke(db, party_id, "just-past-it", at_the_margin - dt.timedelta(microseconds=1))
    assert worker.purge_token_revocations(dataclasses.replace(hub, clock=lambda: now)) == 1
    assert revoked_tokens(db) == {"at-the-margin"}


def test_revocations_are_purged_in_batches_until_none_is_left(
    hub: Services, db: Database, monkeypatch: pytest.MonkeyPatch, party_id: int
) -> None:
    monkeypatch.setattr(housekeeping, "REVOCATIONS_PER_TRANSACTION", 2)
    for n in range(5):
        revoke(db, party_id, f"expired-{n}", hub.now() - DAY)
    revoke(db, party_id, "live", hub.now() + DAY)
    assert worker.purge_token_revocations(hub) == 5
    assert revoked_tokens(db) == {"live"}


# Meter values past retention


def test_retention_starts_at_local_midnight_of_the_same_date_years_back() -> None:
    assert rules.retention_cutoff(TODAY, OSLO, 3) == STANDARD_CUTOFF
    assert rules.retention_cutoff(TODAY, OSLO, 10) == EXTENDED_CUTOFF
    # In winter Oslo is UTC+1; the zone of the date years back counts.
    winter = int(dt.datetime(2023, 1, 9, 23, tzinfo=dt.UTC).timestamp())
    assert rules.retention_cutoff(dt.date(2026, 1, 10), OSLO, 3) == winter
    # 29 February falls back to the 28th: a day more is kept, never a day less.
    leap = int(dt.datetime(2025, 2, 27, 23, tzinfo=dt.UTC).timestamp())
    assert rules.retention_cutoff(dt.date(2028, 2, 29), OSLO, 3) == leap


def test_extended_storage_never_keeps_values_less_long_than_the_standard() -> None:
    cutoffs = rules.retention_cutoffs(TODAY, OSLO, standard_years=3, extended_years=2)
    assert cutoffs.extended == cutoffs.standard == STANDARD_CUTOFF


def test_a_metering_point_is_due_only_when_its_oldest_value_starts_before_its_cutoff() -> None:
    cutoffs = rules.RetentionCutoffs(standard=STANDARD_CUTOFF, extended=EXTENDED_CUTOFF)
    before_standard = STANDARD_CUTOFF - QUARTER_HOUR
    assert rules.purge_values_before(before_standard, False, cutoffs) == STANDARD_CUTOFF
    assert rules.purge_values_before(STANDARD_CUTOFF, False, cutoffs) is None
    assert rules.purge_values_before(before_standard, True, cutoffs) is None
    assert rules.purge_values_before(EXTENDED_CUTOFF - 1, True, cutoffs) == EXTENDED_CUTOFF


def test_purges_are_planned_as_deletes_of_at_most_so_many_quarter_hours() -> None:
    cutoff = STANDARD_CUTOFF
    day = 96 * QUARTER_HOUR
    oldest_starts = [
        (1, cutoff - day),
        (2, cutoff - day),
        (3, cutoff - 250 * QUARTER_HOUR),
        (4, cutoff - 8),
    ]
    assert rules.values_to_purge(oldest_starts, cutoff, max_values=100) == [
        # Two days' quarter hours are 192: more than one delete may hold.
        rules.ValuesToPurge((1,), cutoff),
        # 250 quarter hours: the oldest 100, the next 100, and the last 50 with the next.
        rules.ValuesToPurge((3,), cutoff - 150 * QUARTER_HOUR),
        rules.ValuesToPurge((3,), cutoff - 50 * QUARTER_HOUR),
        rules.ValuesToPurge((2,), cutoff),
        rules.ValuesToPurge((3, 4), cutoff),
    ]
    assert rules.values_to_purge(oldest_starts[:2], cutoff, max_values=192) == [
        rules.ValuesToPurge((1, 2), cutoff)
    ]
    # A start off the quarter hour counts as one more, so no delete holds more than allowed.
    off_the_quarter_hour = cutoff - 100 * QUARTER_HOUR - 8
    assert rules.values_to_purge([(5, off_the_quarter_hour)], cutoff, max_values=100) == [
        rules.ValuesToPurge((5,), cutoff - 8),
        rules.ValuesToPurge((5,), cutoff),
    ]


def test_values_past_retention_are_purged_and_extended_storage_keeps_them_ten_years(
    hub: Services, db: Database, party_id: int, kari: int
) -> None:
    before_standard, before_extended = (
        STANDARD_CUTOFF - QUARTER_HOUR,
        EXTENDED_CUTOFF - QUARTER_HOUR,
    )
    plain, extended, not_extended, ended, revoked, empty = (
        add_metering_point(db, seed) for seed in range(11, 17)
    )
    add_values(db, plain, [before_extended, before_standard, STANDARD_CUTOFF, RECENT])
    add_values(db, extended, [before_extended, EXTENDED_CUTOFF, before_standard, RECENT])
    for point in (not_extended, ended, revoked):
        add_values(db, point, [before_standard, STANDARD_CUTOFF])
    since = dt.date(2015, 1, 1)
    change_grant(db, add_grant(db, party_id, extended, kari, since), extended_storage=True)
    add_grant(db, party_id, not_extended, kari, since)
    change_grant(db, add_grant(db, party_id, ended, kari, since, TODAY), extended_storage=True)
    change_grant(
        db,
        add_grant(db, party_id, revoked, kari, since),
        extended_storage=True,
        revoked_at=hub.now(),
    )

    assert worker.purge_meter_values(hub) == 6
    assert value_starts(db, plain) == [STANDARD_CUTOFF, RECENT]
    assert value_starts(db, extended) == [EXTENDED_CUTOFF, before_standard, RECENT]
    for point in (not_extended, ended, revoked):
        assert value_starts(db, point) == [STANDARD_CUTOFF]
    assert value_starts(db, empty) == []
    assert worker.purge_meter_values(hub) == 0


def test_values_kept_for_extended_storage_go_once_the_grant_has_ended(
    hub: Services, db: Database, clock: MovableClock, party_id: int, kari: int
) -> None:
    point, other = add_metering_point(db, 11), add_metering_point(db, 12)
    four_years_old = int(dt.datetime(2022, 6, 1, tzinfo=OSLO).timestamp())
    add_values(db, point, [four_years_old, RECENT])
    add_values(db, other, [RECENT])
    grant_id = add_grant(db, party_id, point, kari, dt.date(2020, 1, 1), TODAY + DAY)
    change_grant(db, grant_id, extended_storage=True)
    assert worker.purge_meter_values(hub) == 0
    clock.advance(days=1)
    assert worker.purge_meter_values(hub) == 1
    assert value_starts(db, point) == [RECENT]
    assert value_starts(db, other) == [RECENT]


def test_values_are_purged_in_bounded_transactions_across_pages_of_metering_points(
    hub: Services, db: Database, monkeypatch: pytest.MonkeyPatch, party_id: int, kari: int
) -> None:
    monkeypatch.setattr(housekeeping, "VALUES_PER_TRANSACTION", 3)
    monkeypatch.setattr(housekeeping, "METERING_POINTS_PER_PAGE", 2)
    old = [STANDARD_CUTOFF - QUARTER_HOUR * n for n in range(1, 6)]
    points = [add_metering_point(db, seed) for seed in range(11, 16)]
    for point in points:
        add_values(db, point, [*old, RECENT])
    kept_longer = points[2]
    change_grant(
        db, add_grant(db, party_id, kept_longer, kari, dt.date(2020, 1, 1)), extended_storage=True
    )
    deleted_per_transaction: list[int] = []
    write = db.write

    @contextmanager
    def counted_write() -> Iterator[Connection]:
        before = count_values(db)
        with write() as conn:
            yield conn
        deleted_per_transaction.append(before - count_values(db))

    visited: list[int] = []
    oldest_values = store.oldest_values

    def visiting(conn: Connection, *, after: int | None, limit: int) -> list[store.OldestValue]:
        page = oldest_values(conn, after=after, limit=limit)
        visited.extend(point.metering_point_id for point in page)
        return page

    monkeypatch.setattr(db, "write", counted_write)
    monkeypatch.setattr(store, "oldest_values", visiting)
    assert worker.purge_meter_values(hub) == 4 * len(old)
    assert max(deleted_per_transaction) == 3
    assert sum(deleted_per_transaction) == 4 * len(old)
    assert visited == points
    for point in points:
        assert value_starts(db, point) == (
            [*sorted(old), RECENT] if point == kept_longer else [RECENT]
        )


def test_workers_purging_at_once_delete_each_value_once(
    hub: Services, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "VALUES_PER_TRANSACTION", 4)
    monkeypatch.setattr(housekeeping, "METERING_POINTS_PER_PAGE", 3)
    old = [STANDARD_CUTOFF - QUARTER_HOUR * n for n in range(1, 11)]
    points = [add_metering_point(db, seed) for seed in range(11, 19)]
    for point in points:
        add_values(db, point, [*old, RECENT])
    with ThreadPoolExecutor(max_workers=3) as pool:
        purged = list(pool.map(lambda _: worker.purge_meter_values(hub), range(3)))
    assert sum(purged) == len(points) * len(old)
    assert count_values(db) == len(points)


# Grants reaching their end


def test_a_grant_whose_end_date_has_come_is_recorded_as_expired_and_its_party_told(
    hub: Services, db: Database, clock: MovableClock, party_id: int, kari: int
) -> None:
    since = dt.date(2025, 1, 1)
    points = [add_metering_point(db, seed) for seed in range(11, 17)]
    ends_today = add_grant(db, party_id, points[0], kari, since, TODAY)
    ended_last_week = add_grant(db, party_id, points[1], kari, since, TODAY - 7 * DAY)
    ends_tomorrow = add_grant(db, party_id, points[2], kari, since, TODAY + DAY)
    open_ended = add_grant(db, party_id, points[3], kari, since)
    revoked = add_grant(db, party_id, points[4], kari, since, TODAY - DAY)
    change_grant(db, revoked, revoked_at=hub.now() - 2 * DAY)
    ended_by_kari = add_grant(db, party_id, points[5], kari, since)
    grants.end_by_end_user(hub, ended_by_kari, kari)
    set_webhook(db, party_id)

    assert worker.end_grants_past_their_end(hub) == 2
    assert ended_reasons(db) == {
        ends_today: EndReason.EXPIRED,
        ended_last_week: EndReason.EXPIRED,
        ends_tomorrow: None,
        open_ended: None,
        revoked: None,
        ended_by_kari: EndReason.END_USER,
    }
    expired = sorted([ends_today, ended_last_week])
    assert expired_in_audit(db) == [f"grant:{grant_id}" for grant_id in expired]
    assert grant_ended_messages(db) == [(grant_id, "expired") for grant_id in expired]

    assert worker.end_grants_past_their_end(hub) == 0
    assert len(expired_in_audit(db)) == len(grant_ended_messages(db)) == 2

    clock.advance(days=1)
    assert worker.end_grants_past_their_end(hub) == 1
    assert ended_reasons(db)[ends_tomorrow] == EndReason.EXPIRED
    assert grant_ended_messages(db)[-1] == (ends_tomorrow, "expired")
    with db.read() as conn:
        assert audit.verify(conn).ok


def test_marking_grants_expired_leaves_alone_any_that_has_not_simply_reached_its_end(
    hub: Services, db: Database, party_id: int, kari: int
) -> None:
    since = dt.date(2025, 1, 1)
    points = [add_metering_point(db, seed) for seed in range(11, 15)]
    ends_tomorrow = add_grant(db, party_id, points[0], kari, since, TODAY + DAY)
    open_ended = add_grant(db, party_id, points[1], kari, since)
    revoked = add_grant(db, party_id, points[2], kari, since, TODAY)
    change_grant(db, revoked, revoked_at=hub.now())
    ended_by_kari = add_grant(db, party_id, points[3], kari, since)
    grants.end_by_end_user(hub, ended_by_kari, kari)
    before = ended_reasons(db)
    with db.write() as conn:
        marked = grants.mark_expired(
            conn, [ends_tomorrow, open_ended, revoked, ended_by_kari], today=TODAY, actor="test"
        )
    assert marked == []
    assert ended_reasons(db) == before
    assert expired_in_audit(db) == []


def test_grants_are_ended_in_batches_and_by_one_worker_each_when_workers_race(
    hub: Services, db: Database, monkeypatch: pytest.MonkeyPatch, party_id: int, kari: int
) -> None:
    monkeypatch.setattr(housekeeping, "GRANTS_PER_TRANSACTION", 2)
    due = [
        add_grant(db, party_id, add_metering_point(db, seed), kari, TODAY - DAY, TODAY)
        for seed in range(11, 20)
    ]
    set_webhook(db, party_id)
    with ThreadPoolExecutor(max_workers=3) as pool:
        ended = list(pool.map(lambda _: worker.end_grants_past_their_end(hub), range(3)))
    assert sum(ended) == len(due)
    assert sorted(expired_in_audit(db)) == sorted(f"grant:{grant_id}" for grant_id in due)
    assert sorted(grant_id for grant_id, _ in grant_ended_messages(db)) == sorted(due)


# The hub's day


def test_days_are_the_hubs_even_when_utc_is_still_on_yesterday(
    hub: Services, db: Database, clock: MovableClock, party_id: int, kari: int
) -> None:
    clock.advance(hours=-11.5)  # 00:30 in Oslo on 15 June is 22:30 UTC on 14 June.
    point = add_metering_point(db, 11)
    add_values(db, point, [STANDARD_CUTOFF - QUARTER_HOUR, STANDARD_CUTOFF])
    grant_id = add_grant(db, party_id, point, kari, TODAY - 7 * DAY, TODAY)
    assert worker.purge_meter_values(hub) == 1
    assert value_starts(db, point) == [STANDARD_CUTOFF]
    assert worker.end_grants_past_their_end(hub) == 1
    assert ended_reasons(db)[grant_id] == EndReason.EXPIRED


# All of it


def test_run_due_housekeeping_runs_every_job_and_counts_what_each_did(
    hub: Services, db: Database, clock: MovableClock, party_id: int, kari: int
) -> None:
    access_requests.create(
        hub,
        NewAccessRequest(
            process=Process.URL,
            party_id=party_id,
            request_id=str(uuid.uuid4()),
            scope=Scope.FULL,
            deadline=hub.now() + dt.timedelta(hours=1),
        ),
        actor=f"party:{party_id}",
    )
    point = add_metering_point(db, 11)
    add_grant(db, party_id, point, kari, TODAY - DAY, TODAY + DAY)
    revoke(db, party_id, "expired", hub.now())
    add_values(db, point, [STANDARD_CUTOFF - QUARTER_HOUR, RECENT])
    clock.advance(days=1)
    due = {
        "expired_requests": 1,
        "ended_grants": 1,
        "purged_token_revocations": 1,
        "purged_meter_values": 1,
    }
    assert worker.run_due_housekeeping(hub) == due
    assert worker.run_due_housekeeping(hub) == dict.fromkeys(due, 0)
