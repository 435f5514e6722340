"""An end user moving out (a metering-point import with a move-out date and the next
resident) ends every party's contract on that metering point at the move-out date: the
party keeps the data up to it, never sees the next resident's, and hears grant.ended."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update

from consenthub.imports.metering_points import import_metering_points as import_sealing
from consenthub.store.database import Database
from consenthub.store.tables import Grant, MeteringPoint, OutboxMessage, Party
from tests.factories import (
    TEST_IDS,
    add_grant,
    add_hourly_values,
    add_party,
    end_user_by_national_id,
    fnr,
    gsrn,
)
from tests.harness import LiveServer
from tests.imports.test_imports import MP_HEADER, mp_row, write_csv

OSLO = ZoneInfo("Europe/Oslo")

# The import as the CLI runs it, under the tests' secret key.
import_metering_points = partial(import_sealing, ids=TEST_IDS)


def test_moving_out_ends_the_contract_at_the_move_out_date(
    live_server: LiveServer, db: Database, tmp_path: Path
) -> None:
    kari, per = fnr(5, 5, 80), fnr(7, 7, 77)
    import_metering_points(
        db,
        write_csv(tmp_path / "first.csv", MP_HEADER, [mp_row(11, kari, move_in="2022-08-01")]),
        allow_synthetic_ids=True,
    )
    party = add_party(db, seed=1)
    with db.write() as conn:
        conn.execute(
            update(Party)
            .where(Party.id == party.party.id)
            .values(webhook_url="https://app.example.no/hook")
        )
        point = conn.execute(select(MeteringPoint.id)).scalar_one()
    kari_id = end_user_by_national_id(db, kari)
    assert kari_id is not None
    grant_id = add_grant(db, party.party.id, point, kari_id, dt.date(2022, 8, 1))
    # Kari's last day is 29 February; Per's first is 1 March.
    add_hourly_values(db, point, dt.datetime(2024, 2, 29, tzinfo=OSLO), 48)

    import_metering_points(
        db,
        write_csv(
            tmp_path / "moved.csv",
            MP_HEADER,
            [
                mp_row(11, kari, move_in="2022-08-01", move_out="2024-03-01"),
                mp_row(11, per, move_in="2024-03-01"),
            ],
        ),
        allow_synthetic_ids=True,
    )
    with db.read() as conn:
        ended = conn.execute(
            select(Grant.valid_to, Grant.ended_reason).where(Grant.id == grant_id)
        ).one()
        events = conn.execute(
            select(OutboxMessage.event_type, OutboxMessage.payload).order_by(OutboxMessage.id)
        ).all()
    assert tuple(ended) == (dt.date(2024, 3, 1), "moved_out")
    assert events[-1].event_type == "grant.ended"
    assert events[-1].payload["data"]["reason"] == "moved_out"
    assert events[-1].payload["data"]["validTo"] == "2024-03-01"

    token = httpx.post(
        f"{live_server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": party.party.client_id,
            "client_secret": party.client_secret,
        },
    ).json()["access_token"]
    values = httpx.get(
        f"{live_server.url}/api/v1/metering-points/{gsrn(11)}/values",
        params={"from": "2024-02-29", "to": "2024-03-02"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["values"]
    assert len(values) == 24
    assert all(value["start"].startswith("2024-02-29") for value in values)

    # Importing the same file again changes nothing more.
    import_metering_points(
        db,
        write_csv(
            tmp_path / "again.csv",
            MP_HEADER,
            [
                mp_row(11, kari, move_in="2022-08-01", move_out="2024-03-01"),
                mp_row(11, per, move_in="2024-03-01"),
            ],
        ),
        allow_synthetic_ids=True,
    )
    with db.read() as conn:
        assert len(conn.execute(select(OutboxMessage.id)).all()) == len(events)
