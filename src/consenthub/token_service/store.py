"""All SQL of the token service: token liveness and the revocation deny-list (each
revocation an audit event in its transaction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, select
from sqlalchemy.exc import IntegrityError

from consenthub.store import audit
from consenthub.store.prepared import Prepared
from consenthub.store.tables import Party, TokenRevocation

# What decides whether a token is live, as columns of its party's row (bind parameters
# ``client_id`` and ``ref_token``): the party's id, whether it is active, whether the token
# is revoked. A statement selects them from ``Party`` where ``LIVE_PARTY_WHERE`` holds;
# ``party_if_live`` reads them. A data API read adds its own columns to the same statement.
LIVENESS_COLUMNS = (
    Party.id.label("live_party_id"),
    Party.active.label("live_party_active"),
    exists().where(TokenRevocation.ref_token == bindparam("ref_token")).label("token_revoked"),
)
LIVE_PARTY_WHERE = Party.client_id == bindparam("client_id")
# Built once: constructing the statement would cost more than running it.
_PREPARED_LIVE_PARTY = Prepared(select(*LIVENESS_COLUMNS).where(LIVE_PARTY_WHERE))
_INSERT_REVOCATION = insert(TokenRevocation)


def live_party(conn: Connection, claims: dict[str, Any]) -> int | None:
    """The id of the token's party, if it is active and the token is not revoked."""
    rows = _PREPARED_LIVE_PARTY.rows(conn, **liveness_parameters(claims))
    return party_if_live(rows[0]) if rows else None


def liveness_parameters(claims: dict[str, Any]) -> dict[str, Any]:
    return {"client_id": claims["client_id"], "ref_token": claims["ref_token"]}


def party_if_live(row: Sequence[Any]) -> int | None:
    """The party id from a row that starts with ``LIVENESS_COLUMNS``, if the token is live."""
    party_id, active, revoked = row[:3]
    if revoked or not active:
        return None
    return int(party_id)


def revoke(conn: Connection, claims: dict[str, Any], party_id: int, *, now: dt.datetime) -> bool:
    """Put the token on the deny-list until it expires, with its audit event; False (and
    nothing written) if it already was."""
    expires_at = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    try:
        with conn.begin_nested():
            conn.execute(
                _INSERT_REVOCATION,
                {
                    "ref_token": claims["ref_token"],
                    "party_id": party_id,
                    "expires_at": expires_at,
                    "revoked_at": now,
                },
            )
    except IntegrityError:
        return False
    audit.append(
        conn,
        actor=f"party:{party_id}",
        action="token.revoked",
        subject=f"token:{claims['ref_token']}",
        details={"client_id": claims.get("client_id"), "expires_at": expires_at.isoformat()},
        at=now,
    )
    return True
