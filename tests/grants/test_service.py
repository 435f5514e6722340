"""Ending a grant, at service level."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from consenthub import grants
from consenthub.domain.errors import Code, DomainError
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, Grant
from tests.factories import add_end_user, add_grant, add_metering_point, add_party, fnr
from tests.harness import MovableClock


def test_a_person_ends_their_own_grant_today_and_only_theirs(
    hub: Services, db: Database, clock: MovableClock
) -> None:
    party = add_party(db)
    kari, ola = add_end_user(db, fnr(5, 5, 80)), add_end_user(db, fnr(7, 7, 77))
    point = add_metering_point(db, 11)
    grant_id = add_grant(db, party.party.id, point, kari, dt.date(2022, 8, 1))
    clock.advance(days=3)
    with pytest.raises(DomainError) as raised:
        grants.end_by_end_user(hub, grant_id, ola)
    assert raised.value.code is Code.GRANT_NOT_FOUND
    assert grants.end_user_grant(hub, grant_id, kari).valid_to is None
    grants.end_by_end_user(hub, grant_id, kari)
    with db.read() as conn:
        assert conn.execute(select(Grant.valid_to)).scalar_one() == hub.today()
        actions = list(conn.execute(select(AuditEvent.action)).scalars())
    assert actions[-1] == "grant.ended"
    # An ended grant is no longer there to end, or to confirm ending.
    for use_case in (grants.end_by_end_user, grants.end_user_grant):
        with pytest.raises(DomainError) as raised:
            use_case(hub, grant_id, kari)
        assert raised.value.code is Code.GRANT_NOT_FOUND
