"""All SQL of Altinn consent (seed 002): the consents people gave and the hash of each
one's single-use authorization code. Every function runs in the caller's transaction;
those that change state append their audit events there."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update

from consenthub.store import audit, end_users
from consenthub.store.id_cipher import NationalIdCipher, SealedId
from consenthub.store.prepared import Prepared, as_instant, db_instant
from consenthub.store.tables import Consent, EndUser, Party


@dataclass(frozen=True)
class ConsentRecord:
    id: str
    access_request_id: str
    party_id: int
    party_name: str
    party_orgnr: str | None
    end_user_id: int
    # ``{"5252_1": {"fraOgMed": "01.01.2026", …}}``
    resources: dict[str, dict[str, str]]
    purpose: str
    valid_to: dt.datetime
    one_time: bool
    delegated_at: dt.datetime
    code_expires_at: dt.datetime
    code_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    used_at: dt.datetime | None
    withdrawn_at: dt.datetime | None


@dataclass(frozen=True)
class NewConsent:
    access_request_id: str
    party_id: int
    end_user_id: int
    resources: dict[str, dict[str, str]]
    purpose: str
    valid_to: dt.datetime
    one_time: bool
    code_hash: str
    code_expires_at: dt.datetime


@dataclass(frozen=True)
class TokenConsent:
    """What issuing a consent token reads: the consent, its consumer's org no. and the
    person's identity number (``OfferedBy``), in one statement."""

    id: str
    party_id: int
    party_orgnr: str | None
    national_id: str
    resources: dict[str, dict[str, str]]
    valid_to: dt.datetime
    one_time: bool
    delegated_at: dt.datetime
    code_expires_at: dt.datetime
    code_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    used_at: dt.datetime | None
    withdrawn_at: dt.datetime | None


_SELECT = select(Consent, Party.name.label("party_name"), Party.orgnr.label("party_orgnr")).join(
    Party, Party.id == Consent.party_id
)


def _record(row: Any) -> ConsentRecord:
    return ConsentRecord(
        id=row.id,
        access_request_id=row.access_request_id,
        party_id=row.party_id,
        party_name=row.party_name,
        party_orgnr=row.party_orgnr,
        end_user_id=row.end_user_id,
        resources=dict(row.resources),
        purpose=row.purpose,
        valid_to=row.valid_to,
        one_time=row.one_time,
        delegated_at=row.delegated_at,
        code_expires_at=row.code_expires_at,
        code_used_at=row.code_used_at,
        revoked_at=row.revoked_at,
        used_at=row.used_at,
        withdrawn_at=row.withdrawn_at,
    )


def insert_consent(conn: Connection, new: NewConsent, *, now: dt.datetime, actor: str) -> str:
    consent_id = str(
        conn.execute(
            insert(Consent)
            .values(
                access_request_id=new.access_request_id,
                party_id=new.party_id,
                end_user_id=new.end_user_id,
                resources=new.resources,
                purpose=new.purpose,
                valid_to=new.valid_to,
                one_time=new.one_time,
                delegated_at=now,
                code_hash=new.code_hash,
                code_expires_at=new.code_expires_at,
            )
            .returning(Consent.id)
        ).scalar_one()
    )
    audit.append(
        conn,
        actor=actor,
        action="consent.accepted",
        subject=f"consent:{consent_id}",
        details={"access_request": new.access_request_id, "resources": sorted(new.resources)},
        at=now,
    )
    return consent_id


def load(conn: Connection, consent_id: str, *, lock: bool = False) -> ConsentRecord | None:
    query = _SELECT.where(Consent.id == consent_id)
    if lock:
        query = query.with_for_update(of=Consent)
    row = conn.execute(query).first()
    return None if row is None else _record(row)


def of_request(conn: Connection, access_request_id: str) -> ConsentRecord | None:
    """The consent an accepted request produced."""
    row = conn.execute(_SELECT.where(Consent.access_request_id == access_request_id)).first()
    return None if row is None else _record(row)


def of_end_user(conn: Connection, end_user_id: int) -> list[ConsentRecord]:
    """The person's consents, newest first."""
    rows = conn.execute(
        _SELECT.where(Consent.end_user_id == end_user_id).order_by(
            Consent.delegated_at.desc(), Consent.id
        )
    )
    return [_record(row) for row in rows]


# Consent tokens are the token endpoint's hot path (SPEC §12): these run on the driver's
# cursor (store/prepared.py), so values cross as the driver has them.
_FOR_TOKEN = (
    select(
        Consent.id,
        Consent.party_id,
        Party.orgnr,
        EndUser.national_id_hash,
        EndUser.national_id_key_id,
        EndUser.national_id_cipher,
        Consent.resources,
        Consent.valid_to,
        Consent.one_time,
        Consent.delegated_at,
        Consent.code_expires_at,
        Consent.code_used_at,
        Consent.revoked_at,
        Consent.used_at,
        Consent.withdrawn_at,
    )
    .join(Party, Party.id == Consent.party_id)
    .join(EndUser, EndUser.id == Consent.end_user_id)
)
_TOKEN_BY_ID = Prepared(_FOR_TOKEN.where(Consent.id == bindparam("consent_id")))
# Locked: two exchanges of one code queue.
_TOKEN_BY_CODE = Prepared(
    _FOR_TOKEN.where(Consent.code_hash == bindparam("code_hash")).with_for_update(of=Consent)
)
_CODE_USED = Prepared(
    update(Consent)
    .where(Consent.id == bindparam("consent_id"))
    .values(code_used_at=bindparam("at"))
)


_TOKEN_COLUMNS = tuple(_FOR_TOKEN.selected_columns.keys())


def _token_consent(ids: NationalIdCipher, rows: list[tuple[Any, ...]]) -> TokenConsent | None:
    if not rows:
        return None
    row = dict(zip(_TOKEN_COLUMNS, rows[0], strict=True))
    sealed = SealedId(
        row["national_id_hash"], row["national_id_key_id"], bytes(row["national_id_cipher"])
    )
    resources = row["resources"]
    return TokenConsent(
        id=row["id"],
        party_id=row["party_id"],
        party_orgnr=row["orgnr"],
        national_id=ids.open(sealed),
        resources=orjson.loads(resources) if isinstance(resources, str | bytes) else resources,
        valid_to=as_instant(row["valid_to"]),  # type: ignore[arg-type]
        one_time=bool(row["one_time"]),
        delegated_at=as_instant(row["delegated_at"]),  # type: ignore[arg-type]
        code_expires_at=as_instant(row["code_expires_at"]),  # type: ignore[arg-type]
        code_used_at=as_instant(row["code_used_at"]),
        revoked_at=as_instant(row["revoked_at"]),
        used_at=as_instant(row["used_at"]),
        withdrawn_at=as_instant(row["withdrawn_at"]),
    )


def for_token(conn: Connection, ids: NationalIdCipher, consent_id: str) -> TokenConsent | None:
    return _token_consent(ids, _TOKEN_BY_ID.rows(conn, consent_id=consent_id))


def for_code(conn: Connection, ids: NationalIdCipher, code_hash: str) -> TokenConsent | None:
    """The consent the code was issued for, locked."""
    return _token_consent(ids, _TOKEN_BY_CODE.rows(conn, code_hash=code_hash))


def national_id(conn: Connection, ids: NationalIdCipher, end_user_id: int) -> str:
    """The person's number, opened: a consent token carries it (seed 002 ``OfferedBy``)."""
    return end_users.national_id(conn, ids, end_user_id)


def _set(conn: Connection, consent_id: str, **values: dt.datetime) -> None:
    conn.execute(update(Consent).where(Consent.id == consent_id).values(**values))


def code_used(conn: Connection, consent: TokenConsent, *, now: dt.datetime, spend: bool) -> None:
    """The code was exchanged; a one-time consent is spent with it."""
    if not spend:
        at = db_instant(now, sqlite=conn.dialect.name == "sqlite")
        _CODE_USED.run(conn, consent_id=consent.id, at=at)
        return
    _set(conn, consent.id, code_used_at=now, used_at=now)
    audit.append(
        conn,
        actor=f"party:{consent.party_id}",
        action="consent.used",
        subject=f"consent:{consent.id}",
        details={},
        at=now,
    )


def revoke(conn: Connection, consent: TokenConsent, *, now: dt.datetime, reason: str) -> None:
    _set(conn, consent.id, revoked_at=now)
    audit.append(
        conn,
        actor="hub",
        action="consent.revoked",
        subject=f"consent:{consent.id}",
        details={"reason": reason},
        at=now,
    )


def withdraw(conn: Connection, consent: ConsentRecord, *, now: dt.datetime) -> None:
    _set(conn, consent.id, withdrawn_at=now)
    audit.append(
        conn,
        actor=f"end_user:{consent.end_user_id}",
        action="consent.withdrawn",
        subject=f"consent:{consent.id}",
        details={},
        at=now,
    )


def live_past_valid_to(conn: Connection, now: dt.datetime, limit: int) -> list[ConsentRecord]:
    """Consents whose ValidToDate passed and that nothing else ended, oldest first,
    locked (on PostgreSQL, skipping rows another worker holds)."""
    query = (
        _SELECT.where(
            Consent.valid_to <= now,
            Consent.expired_at.is_(None),
            Consent.withdrawn_at.is_(None),
            Consent.revoked_at.is_(None),
        )
        .order_by(Consent.valid_to)
        .limit(limit)
        .with_for_update(of=Consent, skip_locked=True)
    )
    return [_record(row) for row in conn.execute(query)]


def expire(conn: Connection, consent: ConsentRecord, *, now: dt.datetime) -> None:
    _set(conn, consent.id, expired_at=now)
    audit.append(
        conn,
        actor="hub",
        action="consent.expired",
        subject=f"consent:{consent.id}",
        details={},
        at=now,
    )
