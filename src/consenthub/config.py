"""Configuration from ``CONSENTHUB_*`` environment variables and an optional TOML file.

The file is named by ``CONSENTHUB_CONFIG_FILE``; environment variables win
over it. ``consenthub config`` prints the effective values with secrets masked.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from consenthub.domain.identifiers import InvalidIdentifier, validate_gln

DEMO_HUB_GLN = "7080005051286"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTHUB_", extra="forbid")

    environment: str = Field(
        "test",
        pattern=r"^[a-z][a-z0-9-]{0,31}$",
        description="Deployment environment: test, prod, ...",
    )
    database_url: str = "sqlite:///./consenthub.db"
    base_url: str = "http://127.0.0.1:8000"
    issuer: str | None = Field(None, description="Token issuer; defaults to base_url")
    audience: str | None = Field(
        None, description="Token audience; defaults to consenthub:<environment>"
    )
    hub_gln: str = DEMO_HUB_GLN
    hub_timezone: str = "Europe/Oslo"
    allow_synthetic_ids: bool = False
    access_token_ttl_seconds: int = Field(1800, ge=60, le=86400)
    secret_key: SecretStr | None = Field(
        None,
        description="Key for the keyed hash of client secrets, and for signing keys and "
        "national ids at rest",
    )
    secret_key_file: Path = Path("consenthub.key")
    national_id_key_id: int = Field(
        1,
        ge=1,
        description="The key (derived from secret_key) new national ids are sealed with; "
        "raise it by one to rotate, then run `consenthub db reencrypt-ids`",
    )
    client_secret_overlap_hours: float = Field(24.0, ge=0)
    signing_key_prepublish_seconds: int = Field(
        300, ge=0, description="How long a new signing key is published before it signs"
    )
    failed_auth_limit: int = Field(
        10, ge=1, description="Failed client authentications per client and address in a window"
    )
    failed_auth_address_limit: int = Field(
        50, ge=1, description="Failed client authentications per address, for any clients"
    )
    failed_auth_window_seconds: int = Field(300, ge=1)
    cache_ttl_seconds: float = Field(30.0, ge=0)
    # What `consenthub serve` takes from a client (web/server.py; probe defect 2).
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, le=1024 * 1024, description="Request line and header fields, in all"
    )
    max_header_count: int = Field(100, ge=10, le=1000, description="Header fields per request")
    max_body_bytes: int = Field(
        5 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Request body on any route (routes may take less)",
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Time for a request's header fields to arrive"
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, le=3600, description="Time for a request's body to arrive after its head"
    )
    log_level: str = "INFO"
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics; unset: loopback clients only"
    )

    # End-user login (SPEC §9): any OpenID Connect provider; ID-porten in production.
    oidc_issuer: str | None = Field(None, description="OIDC provider issuer URL")
    oidc_client_id: str = "consenthub"
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = "openid profile"
    oidc_acr_values: str | None = Field(None, description="e.g. idporten-loa-substantial")
    oidc_national_id_claim: str = Field("pid", description="Claim holding the national id")
    session_max_age_seconds: int = Field(3600, ge=60)
    default_language: str = Field("nb", pattern="^(nb|nn|en|fi|sv)$")

    # Due work and events (SPEC §10): `consenthub worker`.
    webhook_allow_private: bool = Field(
        False, description="Deliver webhooks to loopback and private addresses (development)"
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    webhook_secret_overlap_hours: float = Field(24.0, ge=0)
    worker_poll_seconds: float = Field(
        0.25, gt=0, le=60, description="Longest wait for due work when nothing wakes the worker"
    )
    worker_lease_seconds: int = Field(60, ge=5, le=3600)
    worker_in_server: bool = Field(
        False, description="Run the worker inside the server process (the demo)"
    )
    retention_years: int = Field(3, ge=1, description="How long meter values are kept")
    extended_retention_years: int = Field(
        10, ge=1, description="How long while a live grant asks for extended storage"
    )

    # Mail (SPEC §6): the worker sends it over SMTP. The defaults reach the demo's sink.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(8025, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", description="none, starttls (upgrade a plain connection) or tls (implicit TLS)"
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(None, validate_default=True)
    smtp_timeout_seconds: float = Field(30.0, gt=0, le=300)
    mail_from: str = Field(
        "consenthub <no-reply@consenthub.invalid>", description="The From of every mail"
    )
    hub_name: str = Field(
        "Datahub",
        min_length=1,
        max_length=100,
        description="The hub's name (Elhub, Datahub, ...): whose service the pages and mail are",
    )
    mail_sink_dir: Path = Field(
        Path("consenthub-mail"), description="Where the demo's SMTP sink keeps what it catches"
    )

    # URL-initiated access (BRS-NO-624).
    third_party_response_ttl_seconds: int = Field(600, ge=60, le=86400)
    url_request_deadline_hours: int = Field(24, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("CONSENTHUB_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("hub_gln")
    @classmethod
    def _valid_gln(cls, value: str) -> str:
        try:
            return validate_gln(value)
        except InvalidIdentifier as exc:
            raise ValueError(f"hub_gln {exc.rule}") from None

    @field_validator("hub_timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("mail_from")
    @classmethod
    def _one_mailbox(cls, value: str) -> str:
        if _mailbox(value) is None:
            raise ValueError(f"not one mail address: {value!r} (e.g. Hub <no-reply@example.org>)")
        return value

    @field_validator("smtp_password")
    @classmethod
    def _smtp_login(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        username, host = info.data.get("smtp_username"), info.data.get("smtp_host", "")
        if (username is None) != (value is None):
            raise ValueError("smtp_username and smtp_password are set together or not at all")
        # Without TLS the password would cross the network in clear.
        if username and info.data.get("smtp_security") == "none" and not _loopback(host):
            raise ValueError("an SMTP login to another host needs smtp_security starttls or tls")
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def token_issuer(self) -> str:
        return self.issuer or self.base_url

    @property
    def token_audience(self) -> str:
        return self.audience or f"consenthub:{self.environment}"

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.hub_timezone)

    @property
    def mail_sender_address(self) -> str:
        """The address of ``mail_from``: the envelope sender (SMTP ``MAIL FROM``)."""
        sender = _mailbox(self.mail_from)
        assert sender is not None, "mail_from is validated"
        return sender.addr_spec

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def resolved_secret_key(self) -> bytes:
        """The configured key, else one kept in ``secret_key_file`` (made on first use).

        Several servers sharing one database must share this key: configure
        ``CONSENTHUB_SECRET_KEY`` (or the same file) on all of them.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.secret_key_file
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def origins(self) -> dict[str, Literal["default", "file", "environment"]]:
        """Where each setting's value came from, as ``settings_customise_sources`` ranks
        them: a ``CONSENTHUB_*`` variable, else ``CONSENTHUB_CONFIG_FILE``, else the
        default."""
        environment = {key.upper() for key in os.environ}
        config_file = os.environ.get("CONSENTHUB_CONFIG_FILE")
        in_file: set[str] = set()
        if config_file:
            with open(config_file, "rb") as handle:
                in_file = set(tomllib.load(handle))
        origins: dict[str, Literal["default", "file", "environment"]] = {}
        for name in type(self).model_fields:
            if f"CONSENTHUB_{name.upper()}" in environment:
                origins[name] = "environment"
            elif name in in_file:
                origins[name] = "file"
            else:
                origins[name] = "default"
        return origins

    def masked(self) -> dict[str, Any]:
        """Effective configuration for display: secrets and passwords masked."""
        shown = self.model_dump(mode="json")
        shown["secret_key"] = "********" if self.secret_key else None
        shown["oidc_client_secret"] = "********" if self.oidc_client_secret else None
        shown["smtp_password"] = "********" if self.smtp_password else None
        shown["metrics_token"] = "********" if self.metrics_token else None
        shown["database_url"] = _mask_url_password(self.database_url)
        shown["token_issuer"] = self.token_issuer
        shown["token_audience"] = self.token_audience
        return shown


def _mailbox(value: str) -> Address | None:
    """The one address ``value`` names (``Name <user@domain>`` or ``user@domain``), or
    None: more than one, none, or anything the mail header parser finds fault with."""
    try:
        header = policy.default.header_factory("from", value)
    except (HeaderParseError, ValueError, IndexError):
        return None
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if header.defects or len(addresses) != 1:
        return None
    address = addresses[0]
    return address if address.username and address.domain else None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mask_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "********"
