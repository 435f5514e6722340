"""All SQL of DH-831: whose accounting points are whose on a date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, or_, select

from consenthub.store import end_users
from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.tables import MeteringPoint, SupplyPeriod


@dataclass(frozen=True)
class CustomerPoints:
    """The customer (None when the hub does not know them) and, by GSRN, the ids of those
    of the asked accounting points that are theirs on the date."""

    end_user_id: int | None
    owned: dict[str, int]


def customer_points(
    conn: Connection, ids: NationalIdCipher, national_id: str, gsrns: Sequence[str], on: dt.date
) -> CustomerPoints:
    end_user_id = end_users.find(conn, ids, national_id)
    if end_user_id is None:
        return CustomerPoints(None, {})
    rows = conn.execute(
        select(MeteringPoint.gsrn, MeteringPoint.id)
        .join(SupplyPeriod, SupplyPeriod.metering_point_id == MeteringPoint.id)
        .where(
            MeteringPoint.gsrn.in_(list(gsrns)),
            SupplyPeriod.end_user_id == end_user_id,
            SupplyPeriod.move_in <= on,
            or_(SupplyPeriod.move_out.is_(None), SupplyPeriod.move_out > on),
        )
    ).all()
    return CustomerPoints(end_user_id, {row.gsrn: row.id for row in rows})
