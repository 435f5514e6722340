"""Building blocks for tests: parties, end users, metering points, grants, values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import insert
from stdnum import ean
from stdnum.no import fodselsnummer

from consenthub.grants import create_grant
from consenthub.registry import store as registry
from consenthub.store import end_users
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.tables import MeteringPoint, MeterValue, SupplyPeriod
from tests.conftest import TEST_SECRET_KEY


def gln(seed: int) -> str:
    body = f"708{seed:09d}"
    return body + ean.calc_check_digit(body)


def gsrn(seed: int) -> str:
    body = f"707057{seed:011d}"
    return body + ean.calc_check_digit(body)


def fnr(day: int = 1, month: int = 1, year: int = 90, individual: int = 123) -> str:
    """A valid fødselsnummer (born 19xx for individual < 500)."""
    for serial in range(individual, individual + 100):
        base = f"{day:02d}{month:02d}{year:02d}{serial:03d}"
        d1 = fodselsnummer.calc_check_digit1(base)
        if len(d1) != 1:
            continue
        d2 = fodselsnummer.calc_check_digit2(base + d1)
        if len(d2) == 1:
            return base + d1 + d2
    raise AssertionError("no valid fødselsnummer found")


def add_party(
    db: Database,
    *,
    name: str = "Strømappen AS",
    seed: int = 1,
    roles: Sequence[str] = ("third_party",),
    return_urls: Sequence[str] = ("https://app.example.no/callback",),
) -> registry.NewCredentials:
    with db.write() as conn:
        return registry.add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name=name,
            roles=roles,
            gln=gln(seed),
            return_urls=return_urls,
        )


# The hub's national id cipher under the tests' secret key (``build_services`` makes the
# same one).
TEST_IDS = NationalIdCipher(TEST_SECRET_KEY.encode())


def add_end_user(db: Database, national_id: str) -> int:
    with db.write() as conn:
        return end_users.add(conn, TEST_IDS, national_id, "person-no", None)


def end_user_by_national_id(db: Database, national_id: str) -> int | None:
    with db.read() as conn:
        return end_users.find(conn, TEST_IDS, national_id)


def national_id_of(db: Database, end_user_id: int) -> str:
    with db.read() as conn:
        return end_users.national_id(conn, TEST_IDS, end_user_id)


def add_metering_point(db: Database, seed: int, *, settlement_point: bool = True) -> int:
    with db.write() as conn:
        return int(
            conn.execute(
                insert(MeteringPoint)
                .values(
                    gsrn=gsrn(seed),
                    settlement_point=settlement_point,
                    address=f"Storgata {seed}",
                    postcode="0155",
                    city="Oslo",
                    grid_area="NO1",
                    extended_storage=False,
                )
                .returning(MeteringPoint.id)
            ).scalar_one()
        )


def add_supply(
    db: Database, mp_id: int, end_user_id: int, move_in: dt.date, move_out: dt.date | None = None
) -> None:
    with db.write() as conn:
        conn.execute(
            insert(SupplyPeriod).values(
                metering_point_id=mp_id, end_user_id=end_user_id, move_in=move_in, move_out=move_out
            )
        )


def add_grant(
    db: Database,
    party_id: int,
    mp_id: int,
    end_user_id: int,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    scope: str = "Limited",
) -> int:
    with db.write() as conn:
        return create_grant(
            conn,
            party_id=party_id,
            metering_point_id=mp_id,
            end_user_id=end_user_id,
            scope=scope,
            valid_from=valid_from,
            valid_to=valid_to,
            actor="test",
        )


def add_hourly_values(
    db: Database, mp_id: int, start: dt.datetime, hours: int, wh: int = 1500
) -> None:
    first = int(start.timestamp())
    with db.write() as conn:
        conn.execute(
            insert(MeterValue),
            [
                {"metering_point_id": mp_id, "start_ts": first + 3600 * i, "wh": wh + i}
                for i in range(hours)
            ],
        )
