"""Registered third parties and their client credentials (SPEC §2, §3)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from consenthub.domain.identifiers import validate_gln, validate_orgnr
from consenthub.domain.parties import Role
from consenthub.registry.secrets import (
    generate_secret,
    generate_webhook_secret,
    hash_secret,
    webhook_cipher,
)
from consenthub.store import audit
from consenthub.store.tables import (
    ClientAuthFailure,
    ClientSecret,
    Party,
    PartyReturnDomain,
    PartyReturnUrl,
    WebhookSecret,
    new_uuid,
    string_length,
)


class RegistryError(ValueError):
    """Bad input for a party, naming the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class PartyRecord:
    id: int
    client_id: str
    name: str
    gln: str | None
    orgnr: str | None
    roles: tuple[str, ...]
    webhook_url: str | None
    active: bool
    privacy_url: str | None = None


@dataclass(frozen=True)
class NewCredentials:
    party: PartyRecord
    client_secret: str
    # Shown once, when the party was registered with a webhook URL.
    webhook_secret: str | None = None


def _party_record(row: Row[Any]) -> PartyRecord:
    return PartyRecord(
        row.id,
        row.client_id,
        row.name,
        row.gln,
        row.orgnr,
        tuple(row.roles),
        row.webhook_url,
        row.active,
        row.privacy_url,
    )


# Values are held to their columns' lengths here, so that SQLite (which stores longer
# ones) and PostgreSQL (which refuses them) accept the same.
NAME_LENGTH = string_length(Party.__table__.c.name)
RETURN_URL_LENGTH = string_length(PartyReturnUrl.__table__.c.url)
RETURN_DOMAIN_LENGTH = string_length(PartyReturnDomain.__table__.c.domain)
WEBHOOK_URL_LENGTH = string_length(Party.__table__.c.webhook_url)
PRIVACY_URL_LENGTH = string_length(Party.__table__.c.privacy_url)


def _bounded(field: str, value: str, length: int) -> str:
    """``value`` if it fits its column and holds no control character (PostgreSQL
    refuses NUL)."""
    if len(value) > length:
        raise RegistryError(field, f"at most {length} characters")
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        raise RegistryError(field, "must not contain control characters")
    return value


def validate_return_url(url: str, *, length: int = RETURN_URL_LENGTH) -> str:
    _bounded("return_url", url, length)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RegistryError("return_url", "must be an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise RegistryError("return_url", "must use https (http only for localhost)")
    if parts.fragment:
        raise RegistryError("return_url", "must not contain a fragment")
    return url


def validate_privacy_url(url: str) -> str:
    """A privacy policy address Min side may link to: absolute https, with a host."""
    _bounded("privacy_url", url, PRIVACY_URL_LENGTH)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or any(char.isspace() for char in url):
        raise RegistryError("privacy_url", "must be an absolute https URL")
    return url


def validate_return_domain(domain: str) -> str:
    candidate = _bounded("return_domain", domain.strip().lower().rstrip("."), RETURN_DOMAIN_LENGTH)
    labels = candidate.split(".")
    if (
        not candidate
        or any(not label or len(label) > 63 for label in labels)
        or not all(label.replace("-", "").isalnum() for label in labels)
    ):
        raise RegistryError("return_domain", "must be a host name such as example.no")
    return candidate


def _validate_roles(roles: Sequence[str]) -> list[str]:
    if not roles:
        raise RegistryError("role", "at least one role is required")
    valid = {role.value for role in Role}
    for role in roles:
        if role not in valid:
            raise RegistryError("role", f"must be one of {', '.join(sorted(valid))}")
    return sorted(set(roles))


def party_problems(
    *,
    name: str,
    roles: Sequence[str],
    gln: str | None = None,
    orgnr: str | None = None,
    return_urls: Sequence[str] = (),
    return_domains: Sequence[str] = (),
    webhook_url: str | None = None,
    privacy_url: str | None = None,
) -> list[RegistryError]:
    """Every rule ``add_party``'s options break, each once, so that all are reported at
    once (``add_party`` stops at the first)."""
    checks: list[Callable[[], object]] = [
        lambda: _bounded("name", name.strip(), NAME_LENGTH) if name.strip() else _required(),
        lambda: _validate_roles(roles),
        *(lambda url=url: validate_return_url(url) for url in return_urls),
        *(lambda domain=domain: validate_return_domain(domain) for domain in return_domains),
    ]
    problems: list[RegistryError] = []
    for check in checks:
        try:
            check()
        except RegistryError as exc:
            problems.append(exc)
    for field, value, validate in (("gln", gln, validate_gln), ("orgnr", orgnr, validate_orgnr)):
        try:
            if value is not None:
                validate(value)
        except ValueError as exc:
            problems.append(RegistryError(field, str(exc)))
    if gln is None and orgnr is None:
        problems.append(RegistryError("gln", "a GLN or an organisation number is required"))
    if webhook_url is not None:
        try:
            validate_return_url(webhook_url, length=WEBHOOK_URL_LENGTH)
        except RegistryError as exc:
            problems.append(RegistryError("webhook_url", exc.rule))
    if privacy_url is not None:
        try:
            validate_privacy_url(privacy_url)
        except RegistryError as exc:
            problems.append(exc)
    return problems


def _required() -> None:
    raise RegistryError("name", "is required")


def add_party(
    conn: Connection,
    secret_key: bytes,
    *,
    name: str,
    roles: Sequence[str],
    gln: str | None = None,
    orgnr: str | None = None,
    return_urls: Sequence[str] = (),
    return_domains: Sequence[str] = (),
    webhook_url: str | None = None,
    privacy_url: str | None = None,
    actor: str = "cli",
) -> NewCredentials:
    """Register a party and make its first client secret (returned once, stored hashed)."""
    if not name.strip():
        raise RegistryError("name", "is required")
    _bounded("name", name.strip(), NAME_LENGTH)
    if gln is None and orgnr is None:
        raise RegistryError("gln", "a GLN or an organisation number is required")
    try:
        gln = validate_gln(gln) if gln is not None else None
    except ValueError as exc:
        raise RegistryError("gln", str(exc)) from None
    try:
        orgnr = validate_orgnr(orgnr) if orgnr is not None else None
    except ValueError as exc:
        raise RegistryError("orgnr", str(exc)) from None
    role_list = _validate_roles(roles)
    urls = [validate_return_url(url) for url in return_urls]
    domains = [validate_return_domain(domain) for domain in return_domains]
    if webhook_url is not None:
        try:
            validate_return_url(webhook_url, length=WEBHOOK_URL_LENGTH)
        except RegistryError as exc:
            raise RegistryError("webhook_url", exc.rule) from None
    if privacy_url is not None:
        validate_privacy_url(privacy_url)
    if gln is not None and conn.execute(select(Party.id).where(Party.gln == gln)).first():
        raise RegistryError("gln", "a party with this GLN is already registered")

    now = dt.datetime.now(dt.UTC)
    party_id = conn.execute(
        insert(Party)
        .values(
            client_id=new_uuid(),
            name=name.strip(),
            gln=gln,
            orgnr=orgnr,
            roles=role_list,
            webhook_url=webhook_url,
            privacy_url=privacy_url,
            active=True,
            created_at=now,
        )
        .returning(Party.id)
    ).scalar_one()
    for url in dict.fromkeys(urls):
        conn.execute(insert(PartyReturnUrl).values(party_id=party_id, url=url))
    for domain in dict.fromkeys(domains):
        conn.execute(insert(PartyReturnDomain).values(party_id=party_id, domain=domain))
    secret = generate_secret()
    conn.execute(
        insert(ClientSecret).values(
            party_id=party_id,
            secret_hash=hash_secret(secret_key, secret),
            created_at=now,
            expires_at=None,
        )
    )
    webhook_secret = (
        add_webhook_secret(conn, secret_key, party_id, now) if webhook_url is not None else None
    )
    record = get_party(conn, party_id)
    audit.append(
        conn,
        actor=actor,
        action="party.added",
        subject=f"party:{record.client_id}",
        details={"name": record.name, "gln": gln, "orgnr": orgnr, "roles": role_list},
    )
    return NewCredentials(record, secret, webhook_secret)


@dataclass(frozen=True)
class PartyChanges:
    """What ``update_party`` changes of a registered party; what is None or empty stays.
    ``privacy_url=""`` removes the party's privacy policy link."""

    name: str | None = None
    privacy_url: str | None = None
    add_return_urls: Sequence[str] = ()
    remove_return_urls: Sequence[str] = ()
    add_return_domains: Sequence[str] = ()
    remove_return_domains: Sequence[str] = ()

    def __bool__(self) -> bool:
        return any(value not in (None, ()) for value in dataclasses.astuple(self))


def _as_field(field: str, check: Callable[[], object]) -> RegistryError | None:
    """The rule ``check`` breaks, named as ``field`` (the option it came from)."""
    try:
        check()
    except RegistryError as exc:
        return RegistryError(field, exc.rule)
    return None


def update_problems(changes: PartyChanges) -> list[RegistryError]:
    """Every rule ``changes`` break on their own, each named by its field, so that all are
    reported at once (``update_party`` checks them again, and what needs the database)."""
    checks: list[tuple[str, Callable[[], object]]] = []
    if changes.name is not None:
        name = changes.name.strip()
        checks.append(
            ("name", lambda: _bounded("name", name, NAME_LENGTH) if name else _required())
        )
    if changes.privacy_url:
        privacy_url = changes.privacy_url
        checks.append(("privacy_url", lambda: validate_privacy_url(privacy_url)))
    checks += [
        ("add_return_url", partial(validate_return_url, url)) for url in changes.add_return_urls
    ]
    checks += [
        (field, partial(validate_return_domain, domain))
        for field, domains in (
            ("add_return_domain", changes.add_return_domains),
            ("remove_return_domain", changes.remove_return_domains),
        )
        for domain in domains
    ]
    return [problem for field, check in checks if (problem := _as_field(field, check))]


def update_party(
    conn: Connection, client_id: str, changes: PartyChanges, *, actor: str = "cli"
) -> PartyRecord:
    """Change what ``changes`` gives of the party, nothing else, with one audit event
    ``party.updated`` naming each change. Raises ``RegistryError`` for the first broken
    rule (``update_problems``), an unknown ``client_id``, or a return address to remove
    that the party does not have (all of them named); nothing changes then."""
    problems = update_problems(changes)
    if problems:
        raise problems[0]
    party = find_by_client_id(conn, client_id)
    if party is None:
        raise RegistryError("client_id", "no party has this client_id")
    urls = return_urls(conn, party.id)
    domains = return_domains(conn, party.id)
    removed_domains = [validate_return_domain(domain) for domain in changes.remove_return_domains]
    for field, removed, registered in (
        ("remove_return_url", changes.remove_return_urls, urls),
        ("remove_return_domain", removed_domains, domains),
    ):
        missing = [value for value in removed if value not in registered]
        if missing:
            raise RegistryError(field, f"not registered for this party: {', '.join(missing)}")
    changed: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if changes.name is not None and changes.name.strip() != party.name:
        values["name"] = changed["name"] = changes.name.strip()
    if changes.privacy_url is not None and (changes.privacy_url or None) != party.privacy_url:
        values["privacy_url"] = changed["privacy_url"] = changes.privacy_url or None
    if values:
        conn.execute(update(Party).where(Party.id == party.id).values(**values))
    added_urls = [url for url in dict.fromkeys(changes.add_return_urls) if url not in urls]
    added_domains = [
        domain
        for domain in dict.fromkeys(map(validate_return_domain, changes.add_return_domains))
        if domain not in domains
    ]
    for url in added_urls:
        conn.execute(insert(PartyReturnUrl).values(party_id=party.id, url=url))
    for domain in added_domains:
        conn.execute(insert(PartyReturnDomain).values(party_id=party.id, domain=domain))
    if changes.remove_return_urls:
        conn.execute(
            delete(PartyReturnUrl).where(
                PartyReturnUrl.party_id == party.id,
                PartyReturnUrl.url.in_(changes.remove_return_urls),
            )
        )
    if removed_domains:
        conn.execute(
            delete(PartyReturnDomain).where(
                PartyReturnDomain.party_id == party.id,
                PartyReturnDomain.domain.in_(removed_domains),
            )
        )
    for key, listed in (
        ("return_urls_added", added_urls),
        ("return_urls_removed", list(dict.fromkeys(changes.remove_return_urls))),
        ("return_domains_added", added_domains),
        ("return_domains_removed", list(dict.fromkeys(removed_domains))),
    ):
        if listed:
            changed[key] = listed
    if changed:
        audit.append(
            conn,
            actor=actor,
            action="party.updated",
            subject=f"party:{party.client_id}",
            details=changed,
        )
    return get_party(conn, party.id)


def add_webhook_secret(conn: Connection, secret_key: bytes, party_id: int, now: dt.datetime) -> str:
    """A new webhook secret for the party, stored encrypted; returned once."""
    secret = generate_webhook_secret()
    conn.execute(
        insert(WebhookSecret).values(
            party_id=party_id,
            secret=webhook_cipher(secret_key).encrypt(secret.encode()).decode(),
            created_at=now,
            expires_at=None,
        )
    )
    return secret


def get_party(conn: Connection, party_id: int) -> PartyRecord:
    return _party_record(conn.execute(select(Party).where(Party.id == party_id)).one())


def find_by_client_id(conn: Connection, client_id: str) -> PartyRecord | None:
    row = conn.execute(select(Party).where(Party.client_id == client_id)).first()
    return None if row is None else _party_record(row)


def find_by_gln(conn: Connection, gln: str) -> PartyRecord | None:
    row = conn.execute(select(Party).where(Party.gln == gln)).first()
    return None if row is None else _party_record(row)


def parties_by_id(conn: Connection, party_ids: Sequence[int]) -> dict[int, PartyRecord]:
    """The parties of ``party_ids``, by id (who a person's requests and grants come from)."""
    if not party_ids:
        return {}
    rows = conn.execute(select(Party).where(Party.id.in_(set(party_ids))))
    return {row.id: _party_record(row) for row in rows}


def list_parties(conn: Connection) -> list[PartyRecord]:
    return [_party_record(row) for row in conn.execute(select(Party).order_by(Party.id))]


def return_urls(conn: Connection, party_id: int) -> list[str]:
    return list(
        conn.execute(
            select(PartyReturnUrl.url)
            .where(PartyReturnUrl.party_id == party_id)
            .order_by(PartyReturnUrl.id)
        ).scalars()
    )


def return_domains(conn: Connection, party_id: int) -> list[str]:
    return list(
        conn.execute(
            select(PartyReturnDomain.domain)
            .where(PartyReturnDomain.party_id == party_id)
            .order_by(PartyReturnDomain.id)
        ).scalars()
    )


def ensure_return_url(conn: Connection, party_id: int, url: str) -> None:
    """Whitelist ``url`` for the party unless it already is."""
    validate_return_url(url)
    if url not in return_urls(conn, party_id):
        conn.execute(insert(PartyReturnUrl).values(party_id=party_id, url=url))


def secret_validity(conn: Connection, party_id: int) -> list[tuple[str, dt.datetime | None]]:
    """Every secret hash of the party with the instant it stops working (None: current)."""
    rows = conn.execute(
        select(ClientSecret.secret_hash, ClientSecret.expires_at).where(
            ClientSecret.party_id == party_id
        )
    ).all()
    return [(row.secret_hash, row.expires_at) for row in rows]


def rotate_secret(
    conn: Connection,
    secret_key: bytes,
    client_id: str,
    *,
    overlap: dt.timedelta,
    actor: str = "cli",
) -> NewCredentials:
    """New secret now; the current ones stay valid for ``overlap``, then stop working."""
    party = find_by_client_id(conn, client_id)
    if party is None:
        raise RegistryError("client_id", "no party has this client_id")
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        update(ClientSecret)
        .where(
            ClientSecret.party_id == party.id,
            or_(ClientSecret.expires_at.is_(None), ClientSecret.expires_at > now + overlap),
        )
        .values(expires_at=now + overlap)
    )
    secret = generate_secret()
    conn.execute(
        insert(ClientSecret).values(
            party_id=party.id,
            secret_hash=hash_secret(secret_key, secret),
            created_at=now,
            expires_at=None,
        )
    )
    audit.append(
        conn,
        actor=actor,
        action="party.secret_rotated",
        subject=f"party:{party.client_id}",
        details={"previous_valid_until": (now + overlap).isoformat()},
    )
    return NewCredentials(party, secret)


def failures_since(
    conn: Connection, keys: Sequence[str], since: dt.datetime
) -> dict[str, list[dt.datetime]]:
    """The failed authentications under each of ``keys`` after ``since``, oldest first."""
    rows = conn.execute(
        select(ClientAuthFailure.key, ClientAuthFailure.failed_at)
        .where(ClientAuthFailure.key.in_(keys), ClientAuthFailure.failed_at > since)
        .order_by(ClientAuthFailure.failed_at)
    )
    found: dict[str, list[dt.datetime]] = {key: [] for key in keys}
    for key, failed_at in rows:
        found[key].append(failed_at)
    return found


def add_failure(
    conn: Connection, keys: Sequence[str], at: dt.datetime, forget_before: dt.datetime
) -> None:
    """One failure under each of ``keys``; those older than ``forget_before`` (of any key)
    are deleted, so the table holds one window's failures."""
    conn.execute(delete(ClientAuthFailure).where(ClientAuthFailure.failed_at <= forget_before))
    conn.execute(insert(ClientAuthFailure), [{"key": key, "failed_at": at} for key in keys])
