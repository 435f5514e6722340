"""Tables (SPEC §2). Alembic migrations in ``store/migrations`` create them.

Instants are stored as naive UTC (``UTCDateTime``); meter values as epoch
seconds, because there are hundreds of millions of them and integer keys are
compact and compare the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


def new_uuid() -> str:
    return str(uuid.uuid4())


def string_length(column: ColumnElement[Any]) -> int:
    """A ``String(n)`` column's ``n``: the longest value both databases accept."""
    assert isinstance(column.type, String)
    assert column.type.length is not None
    return column.type.length


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    gln: Mapped[str | None] = mapped_column(String(13), unique=True)
    orgnr: Mapped[str | None] = mapped_column(String(9))
    roles: Mapped[list[str]]
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Linked on every request Min side shows of the party (https).
    privacy_url: Mapped[str | None] = mapped_column(String(2000))
    # Set when the endpoint answered 410 Gone: no more deliveries until it is set again.
    webhook_disabled_at: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]


class PartyReturnUrl(Base):
    """Whitelisted return address (exact URL match)."""

    __tablename__ = "party_return_urls"
    __table_args__ = (UniqueConstraint("party_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))


class PartyReturnDomain(Base):
    """Whitelisted return domain (host and its subdomains)."""

    __tablename__ = "party_return_domains"
    __table_args__ = (UniqueConstraint("party_id", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253))


class ClientSecret(Base):
    """A client secret, stored only as its keyed hash (HMAC-SHA256)."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    # None while current; set on rotation to the end of the overlap period.
    expires_at: Mapped[dt.datetime | None]


class SigningKey(Base):
    """The hub's JWS keys. Published from ``created_at``, signing from ``activates_at``."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    # Private JWK, encrypted at rest (Fernet, key derived from the secret key).
    private_jwk: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    activates_at: Mapped[dt.datetime]


class EndUser(Base):
    __tablename__ = "end_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Fødselsnummer / D-number / HETU / org no.: personal data, never logged and never
    # stored in the clear (``store.id_cipher``): its keyed hash finds the person, the
    # AES-GCM ciphertext under the numbered key holds the number.
    national_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    national_id_key_id: Mapped[int] = mapped_column(Integer)
    national_id_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))


class MeteringPoint(Base):
    __tablename__ = "metering_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gsrn: Mapped[str] = mapped_column(String(18), unique=True)
    settlement_point: Mapped[bool] = mapped_column(Boolean)
    address: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    grid_area: Mapped[str | None] = mapped_column(String(32))
    # "Extended storage" (BRS-NO-622): keep values 10 years instead of 3.
    extended_storage: Mapped[bool] = mapped_column(Boolean, default=False)


class SupplyPeriod(Base):
    """Which end user lives on a metering point from move-in to move-out."""

    __tablename__ = "supply_periods"
    __table_args__ = (
        UniqueConstraint("metering_point_id", "move_in"),
        CheckConstraint("move_out IS NULL OR move_out > move_in", name="move_out_after_move_in"),
        Index("ix_supply_periods_end_user", "end_user_id", "metering_point_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metering_point_id: Mapped[int] = mapped_column(ForeignKey("metering_points.id"))
    end_user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id"))
    move_in: Mapped[dt.date] = mapped_column(Date)
    move_out: Mapped[dt.date | None] = mapped_column(Date)


class MeterValue(Base):
    __tablename__ = "meter_values"

    metering_point_id: Mapped[int] = mapped_column(
        ForeignKey("metering_points.id"), primary_key=True
    )
    start_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Watt-hours: kWh with three decimals, exact.
    wh: Mapped[int] = mapped_column(BigInteger)


class AccessRequest(Base):
    """A third party's pending question to an end user (SPEC §2)."""

    __tablename__ = "access_requests"
    __table_args__ = (UniqueConstraint("party_id", "process", "request_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    request_id: Mapped[str] = mapped_column(String(36))
    process: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    end_user_id: Mapped[int | None] = mapped_column(ForeignKey("end_users.id"), index=True)
    deadline: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ConsentResource(Base):
    """A consent resource a data source registered (seed 002: "Tjenestekode og
    tjenesteutgavekode på tjenesten som datakilde har definert som samtykketjeneste")."""

    __tablename__ = "consent_resources"

    # ``<serviceCode>_<edition>``, e.g. ``5252_1``.
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    data_source_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    title_nb: Mapped[str] = mapped_column(String(200))
    title_nn: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    # The purpose text, with ``NAVN_SELSKAP`` where the consumer's name goes.
    context_template: Mapped[str] = mapped_column(Text)
    # ``[{"name": "fraOgMed", "format": "dd.mm.yyyy", "required": true}, …]``
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    max_duration_days: Mapped[int] = mapped_column(Integer)
    one_time: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]


class Consent(Base):
    """A consent the person gave (seed 002), and the one authorization code that hands it
    to the consumer (RFC 6749 §4.1.2: single use, short-lived, kept only as its hash)."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    access_request_id: Mapped[str] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    end_user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id"), index=True)
    # ``{"5252_1": {"fraOgMed": "01.01.2026", …}, …}``: the resources and their metadata.
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The purpose text as the person read it.
    purpose: Mapped[str] = mapped_column(Text)
    valid_to: Mapped[dt.datetime] = mapped_column(index=True)
    one_time: Mapped[bool] = mapped_column(Boolean)
    delegated_at: Mapped[dt.datetime]
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[dt.datetime]
    code_used_at: Mapped[dt.datetime | None]
    # Set on a second use of the code: what the first use produced is revoked.
    revoked_at: Mapped[dt.datetime | None]
    used_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    # Set by the worker once ValidToDate passed and the consumer was told.
    expired_at: Mapped[dt.datetime | None]


class AccessRequestItem(Base):
    __tablename__ = "access_request_items"
    __table_args__ = (UniqueConstraint("access_request_id", "metering_point_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_request_id: Mapped[str] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE")
    )
    metering_point_id: Mapped[int] = mapped_column(ForeignKey("metering_points.id"), index=True)
    # ``"<party id>:<metering point id>"`` while the request is pending, else NULL: unique,
    # so a party has at most one pending request per metering point, whoever races
    # (BRS-NO-622 rule 7, EH098). NULLs do not collide on SQLite nor PostgreSQL.
    pending_key: Mapped[str | None] = mapped_column(String(40), unique=True)


class AccessUpdateMessage(Base):
    """A BRS-NO-622 message as received, with the acknowledgement it was answered: the same
    ``messageId`` again gets the same acknowledgement and changes nothing."""

    __tablename__ = "access_update_messages"
    __table_args__ = (UniqueConstraint("party_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    message_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[dt.datetime]
    acknowledgement: Mapped[dict[str, Any]] = mapped_column(JSON)


class Grant(Base):
    """Party × metering point × scope × ``[valid_from, valid_to)`` (the seeds' contract)."""

    __tablename__ = "grants"
    __table_args__ = (
        Index("ix_grants_party_metering_point", "party_id", "metering_point_id"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_to_after_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    metering_point_id: Mapped[int] = mapped_column(ForeignKey("metering_points.id"))
    end_user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    access_request_id: Mapped[str | None] = mapped_column(ForeignKey("access_requests.id"))
    created_at: Mapped[dt.datetime]
    # Withdrawn altogether (not merely ended): no more reads at all.
    revoked_at: Mapped[dt.datetime | None]
    # How it ended (``grants.rules.EndReason``), set when ``valid_to`` is set by an ending.
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    # BRS-NO-622 "extendedStorage": keep the metering point's values longer while it lasts.
    extended_storage: Mapped[bool] = mapped_column(Boolean, default=False)


class TokenRevocation(Base):
    """A revoked access token (RFC 7009), by its ``ref_token`` claim, kept until it expires.

    Issued tokens are not stored: a token is a signed, self-contained JWT, and only
    the exceptions (revocations) need a record. See docs/decisions.md.
    """

    __tablename__ = "token_revocations"

    ref_token: Mapped[str] = mapped_column(String(64), primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[dt.datetime]


class ClientAuthFailure(Base):
    """One failed client authentication, under each throttle key it counts against
    (``registry/throttle.py``): shared by every server process, kept for one window."""

    __tablename__ = "client_auth_failures"
    __table_args__ = (Index("ix_client_auth_failures_key_failed_at", "key", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120))
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class AccessLogEntry(Base):
    """Every read of end-user data through the data API; the end user sees these."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_end_user_at", "end_user_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime]
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    end_user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id"))
    metering_point_id: Mapped[int] = mapped_column(ForeignKey("metering_points.id"))
    what: Mapped[str] = mapped_column(String(32))
    period_from: Mapped[dt.datetime | None]
    period_to: Mapped[dt.datetime | None]
    correlation_id: Mapped[str | None] = mapped_column(String(36))


class WebhookSecret(Base):
    """A party's webhook signing secret (Standard Webhooks ``whsec_``), encrypted at rest;
    a rotated-out one keeps signing beside the new one until ``expires_at``."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    # Fernet-encrypted with a key derived from the hub secret key.
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]


class OutboxMessage(Base):
    """Something to tell the outside (a webhook event, a mail), written in the transaction
    of the change it tells of and sent only by the worker. A party's webhook messages are
    delivered in the order of (``batch_id`` or else ``id``, ``id``); a worker leases what
    it sends (``claimed_by``, ``lease_until``), so a worker that dies leaves nothing
    half-done.

    A change that tells a party of several events at once (an approval: a
    ``grant.started`` per metering point) writes one row, a batch (``batch_events``
    set, the events in its payload), which the worker fans out into a message per event
    when it claims the party's messages (``outbox.store``)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_open", "delivered_at", "failed_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"), index=True)
    # The receiver's idempotency key: ``webhook-id`` (or a mail's Message-ID).
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # What the message is about (e.g. ``access_request:<id>``), so that a change can void
    # what is no longer to be sent (a reminder of a request just answered).
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    # Set when the message was withdrawn before it was sent; it is then never sent.
    voided_at: Mapped[dt.datetime | None]
    # A batch not yet fanned out: how many events its payload holds.
    batch_events: Mapped[int | None] = mapped_column(Integer)
    # A message fanned out of a batch: the batch row's id, whose place in the party's
    # order it takes (the batch row itself became the first of them).
    batch_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class BrowserSession(Base):
    """A person's browser session, kept on the server: the cookie holds only a random id,
    of which this row keeps the SHA-256, so that a session can be ended (logout, "end
    all sessions", a login as someone else) and a database copy hijacks nothing."""

    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    end_user_id: Mapped[int | None] = mapped_column(ForeignKey("end_users.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Append-only, hash-chained record of every state change."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row holding the chain's last hash; locked to append in order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
