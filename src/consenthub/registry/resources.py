"""Consent resources registered by data sources, and the consumers that may ask for them
(seed 002: "NAV må registrere konsument av samtykke i rettighetsregisteret … virksomhetsnummer
og retur domene")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from consenthub.domain.consent import (
    COMPANY_PLACEHOLDER,
    RESOURCE_CODE,
    ConsentResource,
    ParameterFormat,
    ResourceParameter,
)
from consenthub.domain.parties import Role
from consenthub.registry.store import PartyRecord, RegistryError, _bounded, _party_record
from consenthub.store import audit
from consenthub.store.tables import ConsentResource as ConsentResourceRow
from consenthub.store.tables import Party, string_length

TITLE_LENGTH = string_length(ConsentResourceRow.__table__.c.title_nb)
TEMPLATE_LENGTH = 10_000
LANGUAGES = ("nb", "nn", "en")
# A consent lasts at most this long, whatever a resource registers.
LONGEST_DURATION_DAYS = 3650


def parse_parameter(text: str) -> ResourceParameter:
    """``name:format[:required|optional]``, e.g. ``fraOgMed:dd.mm.yyyy:required``."""
    name, _, rest = text.partition(":")
    form, _, need = rest.partition(":")
    if not name.isidentifier() or not name.isascii():
        raise RegistryError("parameter", "name must be letters and digits, e.g. fraOgMed")
    try:
        parameter_format = ParameterFormat(form or ParameterFormat.TEXT)
    except ValueError:
        formats = ", ".join(item.value for item in ParameterFormat)
        raise RegistryError("parameter", f"format must be one of {formats}") from None
    if need not in ("", "required", "optional"):
        raise RegistryError("parameter", "must end in :required or :optional")
    return ResourceParameter(name, parameter_format, need != "optional")


def _record(row: Any) -> ConsentResource:
    return ConsentResource(
        code=row.code,
        data_source_id=row.data_source_id,
        data_source_name=row.data_source_name,
        titles={"nb": row.title_nb, "nn": row.title_nn, "en": row.title_en},
        context_template=row.context_template,
        parameters=tuple(
            ResourceParameter(item["name"], ParameterFormat(item["format"]), item["required"])
            for item in row.parameters
        ),
        max_duration_days=row.max_duration_days,
        one_time=row.one_time,
    )


_SELECT = select(ConsentResourceRow, Party.name.label("data_source_name")).join(
    Party, Party.id == ConsentResourceRow.data_source_id
)


def add_consent_resource(
    conn: Connection,
    *,
    code: str,
    data_source: PartyRecord,
    titles: Mapping[str, str],
    context_template: str,
    parameters: Sequence[ResourceParameter],
    max_duration_days: int,
    one_time: bool,
    actor: str = "cli",
) -> ConsentResource:
    """Register a consent resource of a ``data_source`` party."""
    if not RESOURCE_CODE.fullmatch(code):
        raise RegistryError("code", "must be <serviceCode>_<edition>, e.g. 5252_1")
    if Role.DATA_SOURCE not in data_source.roles or not data_source.active:
        raise RegistryError("data_source", "must be an active party with the role data_source")
    for language in LANGUAGES:
        if not titles.get(language, "").strip():
            raise RegistryError(f"title_{language}", "is required")
        _bounded(f"title_{language}", titles[language].strip(), TITLE_LENGTH)
    if COMPANY_PLACEHOLDER not in context_template:
        raise RegistryError("context", f"must contain {COMPANY_PLACEHOLDER}")
    if len(context_template) > TEMPLATE_LENGTH:
        raise RegistryError("context", f"at most {TEMPLATE_LENGTH} characters")
    names = [parameter.name for parameter in parameters]
    if len(set(names)) != len(names):
        raise RegistryError("parameter", "each name at most once")
    if not 1 <= max_duration_days <= LONGEST_DURATION_DAYS:
        raise RegistryError("max_duration_days", f"must be 1 to {LONGEST_DURATION_DAYS}")
    if conn.execute(select(ConsentResourceRow.code).where(ConsentResourceRow.code == code)).first():
        raise RegistryError("code", "a consent resource with this code is already registered")
    conn.execute(
        insert(ConsentResourceRow).values(
            code=code,
            data_source_id=data_source.id,
            title_nb=titles["nb"].strip(),
            title_nn=titles["nn"].strip(),
            title_en=titles["en"].strip(),
            context_template=context_template,
            parameters=[
                {"name": item.name, "format": item.format.value, "required": item.required}
                for item in parameters
            ],
            max_duration_days=max_duration_days,
            one_time=one_time,
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    audit.append(
        conn,
        actor=actor,
        action="consent_resource.added",
        subject=f"consent_resource:{code}",
        details={"data_source": data_source.client_id, "one_time": one_time},
    )
    return consent_resources(conn, [code])[0]


def consent_resources(
    conn: Connection, codes: Sequence[str] | None = None
) -> list[ConsentResource]:
    """The registered resources (those of ``codes``, when given), by code."""
    query = _SELECT.order_by(ConsentResourceRow.code)
    if codes is not None:
        query = query.where(ConsentResourceRow.code.in_(list(codes)))
    return [_record(row) for row in conn.execute(query)]


def find_consumer(conn: Connection, orgnr: str) -> PartyRecord | None:
    """The active ``consent_consumer`` with this organisation number (seed 002:
    ``CoveredBy`` "Organisasjonsnummeret til datakonsument")."""
    for row in conn.execute(
        select(Party).where(Party.orgnr == orgnr, Party.active.is_(True)).order_by(Party.id)
    ):
        party = _party_record(row)
        if Role.CONSENT_CONSUMER in party.roles:
            return party
    return None
