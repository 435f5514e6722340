"""``consenthub import metering-points``: master data and supply periods from CSV.

Each row is a metering point's master data plus one supply period: who lives
there from ``move_in`` to ``move_out`` (half-open; empty ``move_out`` means
still living there). Metering points are upserted by GSRN and supply periods
by (metering point, move_in), so importing the same file twice changes
nothing. Rows are checked one by one while they are copied into a temporary
table; the checks across rows (same master data on every row of a metering
point, no overlapping supply periods, also against stored ones) and the
writes are then set-based SQL, so millions of rows take minutes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TextIO

from sqlalchemy import (
    Boolean,
    Column,
    ColumnExpressionArgument,
    Connection,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import ColumnElement, Executable, FromClause

from consenthub import grants
from consenthub.domain.identifiers import (
    EndUserIdKind,
    InvalidIdentifier,
    validate_end_user_id,
    validate_gsrn,
)
from consenthub.imports import (
    BATCH_SIZE,
    CsvRows,
    Problems,
    Progress,
    bulk_append,
    source_name,
)
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher, SealedId
from consenthub.store.tables import EndUser, MeteringPoint, SupplyPeriod

HEADER = (
    "metering_point_id",
    "end_user_id",
    "move_in",
    "move_out",
    "settlement_point",
    "address",
    "postcode",
    "city",
    "grid_area",
)
MASTER_DATA = ("settlement_point", "address", "postcode", "city", "grid_area")
_TEXT_FIELDS = ("address", "postcode", "city", "grid_area")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FLAGS = {"true": True, "false": False}
_ROWCOUNT = {"preserve_rowcount": True}
_CACHED_END_USERS = 65_536


def _max_length(name: str) -> int | None:
    column_type = MeteringPoint.__table__.c[name].type
    return column_type.length if isinstance(column_type, String) else None


_LIMITS = {name: _max_length(name) for name in _TEXT_FIELDS}

_staging = Table(
    "import_metering_points",
    MetaData(),
    Column("line", Integer, primary_key=True),
    Column("gsrn", String(18), nullable=False),
    # The end user's id as stored (``store.id_cipher``): never in the clear, here neither.
    Column("national_id_hash", String(64), nullable=False),
    Column("national_id_key_id", Integer, nullable=False),
    Column("national_id_cipher", LargeBinary, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("move_in", Date, nullable=False),
    Column("move_out", Date),
    Column("settlement_point", Boolean, nullable=False),
    *(Column(name, String(_LIMITS[name])) for name in _TEXT_FIELDS),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_index = Index("ix_import_metering_points", _staging.c.gsrn, _staging.c.move_in)


@dataclass(frozen=True)
class MeteringPointReport:
    """Data rows read, and what the import changed: metering points and supply periods
    inserted or changed, end users created. Importing a file again reports zeros."""

    file: str
    rows: int
    metering_points: int
    supply_periods: int
    end_users_created: int


def import_metering_points(
    database: Database,
    source: Path | TextIO,
    *,
    ids: NationalIdCipher,
    allow_synthetic_ids: bool = False,
    progress: Progress | None = None,
    actor: str = "cli",
) -> MeteringPointReport:
    """Import a metering point CSV file, all or nothing.

    Raises :class:`~consenthub.imports.ImportFileError` (and writes nothing)
    when the header or any row is bad.
    """
    name = source_name(source)
    problems = Problems()
    with database.write() as conn:
        if conn.dialect.name == "postgresql":
            # One import at a time, as SQLite's BEGIN IMMEDIATE has it: the checks against
            # stored supply periods and _write's plain INSERTs rely on it. Readers go on.
            conn.exec_driver_sql(
                f"LOCK TABLE {SupplyPeriod.__tablename__} IN SHARE ROW EXCLUSIVE MODE"
            )
        conn.execute(CreateTable(_staging))  # its index comes after the rows
        rows = _stage(
            conn, CsvRows(source, HEADER, problems, progress), problems, ids, allow_synthetic_ids
        )
        problems.raise_if_any()
        _index.create(conn)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {_staging.name}")
        _check_master_data(conn, problems)
        _check_overlaps(conn, problems)
        problems.raise_if_any()
        report = _write(conn, name, rows)
        grants.end_at_move_out(
            conn,
            select(MeteringPoint.id).where(
                MeteringPoint.gsrn.in_(select(_staging.c.gsrn).distinct())
            ),
            actor=actor,
        )
        audit.append(
            conn,
            actor=actor,
            action="import.metering_points",
            subject=name,
            details={key: value for key, value in asdict(report).items() if key != "file"},
        )
        _staging.drop(conn)
    return report


def _stage(
    conn: Connection,
    rows: CsvRows,
    problems: Problems,
    ids: NationalIdCipher,
    allow_synthetic_ids: bool,
) -> int:
    """Check each row and copy the good ones to the staging table; returns the row count."""

    # An end user with several metering points is on several rows, mostly near each other:
    # check and seal each id once. The cache belongs to this import, so it keeps no ids
    # afterwards.
    @lru_cache(maxsize=_CACHED_END_USERS)
    def end_user(text: str) -> tuple[SealedId, EndUserIdKind]:
        national_id, kind = validate_end_user_id(text, allow_synthetic=allow_synthetic_ids)
        return ids.seal(national_id), kind

    count = 0
    batch: list[tuple[object, ...]] = []
    for line, fields in rows:
        count += 1
        staged = _parse_row(line, fields, problems, end_user)
        if staged is not None and not problems:
            batch.append(staged)
            if len(batch) >= BATCH_SIZE:
                bulk_append(conn, _staging, batch)
                batch.clear()
    if not problems:
        bulk_append(conn, _staging, batch)
    return count


def _parse_row(
    line: int,
    fields: list[str],
    problems: Problems,
    end_user: Callable[[str], tuple[SealedId, EndUserIdKind]],
) -> tuple[object, ...] | None:
    """The staging row for one CSV row, or None (and its problems recorded)."""
    gsrn_text, end_user_text, move_in_text, move_out_text, flag, *texts = fields
    before = len(problems.errors)
    gsrn = sealed = kind = None
    try:
        gsrn = validate_gsrn(gsrn_text)
    except InvalidIdentifier as exc:
        problems.add(line, "metering_point_id", exc.rule)
    try:
        sealed, id_kind = end_user(end_user_text)
        kind = id_kind.value
    except InvalidIdentifier as exc:
        problems.add(line, "end_user_id", exc.rule)
    move_in = _date(line, "move_in", move_in_text, problems)
    move_out = _date(line, "move_out", move_out_text, problems) if move_out_text else None
    if move_in is not None and move_out is not None and move_out <= move_in:
        problems.add(line, "move_out", "must be after move_in")
    settlement_point = _FLAGS.get(flag.lower())
    if settlement_point is None:
        problems.add(line, "settlement_point", "must be true or false")
    for field, text in zip(_TEXT_FIELDS, texts, strict=True):
        limit = _LIMITS[field]
        if limit is not None and len(text) > limit:
            problems.add(line, field, f"must be at most {limit} characters")
    if gsrn is not None:
        located = dict(zip(_TEXT_FIELDS, texts, strict=True))
        for field, rule in location_problems(gsrn, located["postcode"], located["grid_area"]):
            problems.add(line, field, rule)
    if len(problems.errors) > before or problems.truncated or sealed is None:
        return None
    return (
        line,
        gsrn,
        sealed.lookup_hash,
        sealed.key_id,
        sealed.ciphertext,
        kind,
        move_in_text,
        move_out_text or None,
        settlement_point,
        *(text or None for text in texts),
    )


# GS1 company prefixes: a GSRN's first three digits tell the country that issued it.
_NORWAY = range(700, 710)
_FINLAND = range(640, 650)
_NORWEGIAN_GRID_AREAS = frozenset({"NO1", "NO2", "NO3", "NO4", "NO5"})


def location_problems(gsrn: str, postcode: str, grid_area: str) -> list[tuple[str, str]]:
    """The postcode and grid area a metering point of this country must have, as
    ``(field, rule)``; empty fields are allowed (master data may be incomplete).

    The country comes from the GSRN's GS1 prefix (700–709 Norway, 640–649 Finland).
    Norway: a postcode is 4 digits (Posten), a grid area one of the bidding zones
    NO1–NO5 (Nord Pool). Finland: a postcode is 5 digits (Posti). Other countries'
    metering points are not held to a form.
    """
    prefix = int(gsrn[:3])
    found: list[tuple[str, str]] = []
    if prefix in _NORWAY:
        if postcode and not _digits(postcode, 4):
            found.append(("postcode", "must be 4 digits for a Norwegian metering point"))
        if grid_area and grid_area.upper() not in _NORWEGIAN_GRID_AREAS:
            found.append(("grid_area", "must be NO1, NO2, NO3, NO4 or NO5"))
    elif prefix in _FINLAND and postcode and not _digits(postcode, 5):
        found.append(("postcode", "must be 5 digits for a Finnish metering point"))
    return found


def _digits(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


def _date(line: int, field: str, text: str, problems: Problems) -> dt.date | None:
    try:
        return _parse_date(text)
    except ValueError as exc:
        problems.add(line, field, str(exc))
        return None


# Most rows share a handful of move-in dates: parse each once.
@lru_cache(maxsize=4096)
def _parse_date(text: str) -> dt.date:
    if not _DATE.fullmatch(text):
        raise ValueError("must be a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a valid calendar date") from None


def _check_master_data(conn: Connection, problems: Problems) -> None:
    """Every row naming a metering point must give it the same master data as its first row."""
    repeated = (
        select(_staging.c.gsrn, func.min(_staging.c.line).label("first_line"))
        .group_by(_staging.c.gsrn)
        .having(func.count() > 1)
        .subquery()
    )
    first, later = _staging.alias("first"), _staging.alias("later")
    differs = [later.c[name].is_distinct_from(first.c[name]) for name in MASTER_DATA]
    rows = conn.execute(
        select(
            later.c.line,
            repeated.c.first_line,
            *(d.label(name) for name, d in zip(MASTER_DATA, differs, strict=True)),
        )
        .select_from(repeated)
        .join(first, first.c.line == repeated.c.first_line)
        .join(later, and_(later.c.gsrn == repeated.c.gsrn, later.c.line != repeated.c.first_line))
        .where(or_(*differs))
        .order_by(later.c.line)
        .limit(problems.room + 1)
    ).all()
    for row in rows:
        field = next(name for name in MASTER_DATA if getattr(row, name))
        problems.add(
            row.line, field, f"differs from line {row.first_line} for the same metering point"
        )


def _check_overlaps(conn: Connection, problems: Problems) -> None:
    """Supply periods of a metering point must not overlap, in the file or with stored ones.

    Periods are half-open, an empty ``move_out`` meaning no end. Stored
    periods that the file replaces (same metering point and ``move_in``) do
    not count. Both checks are index lookups per row, not sorts.
    """
    earlier, later = _staging.alias("earlier"), _staging.alias("later")
    within_file = conn.execute(
        select(later.c.line, earlier.c.line.label("other"))
        .join(later, and_(later.c.gsrn == earlier.c.gsrn, later.c.move_in >= earlier.c.move_in))
        .where(
            _overlap(earlier, later.c.move_in),
            or_(later.c.move_in > earlier.c.move_in, later.c.line > earlier.c.line),
        )
        .order_by(later.c.line)
        .limit(problems.room + 1)
    ).all()
    for row in within_file:
        problems.add(row.line, "move_in", f"supply period overlaps the one on line {row.other}")

    replacing = _staging.alias("replacing")
    with_stored = conn.execute(
        select(
            _staging.c.line,
            SupplyPeriod.move_in,
            SupplyPeriod.move_out,
            (SupplyPeriod.move_in < _staging.c.move_in).label("starts_before"),
        )
        .join(MeteringPoint, MeteringPoint.gsrn == _staging.c.gsrn)
        .join(
            SupplyPeriod,
            and_(
                SupplyPeriod.metering_point_id == MeteringPoint.id,
                SupplyPeriod.move_in != _staging.c.move_in,
            ),
        )
        .where(
            _overlap(SupplyPeriod.__table__, _staging.c.move_in),
            _overlap(_staging, SupplyPeriod.move_in),
            ~exists().where(
                replacing.c.gsrn == _staging.c.gsrn, replacing.c.move_in == SupplyPeriod.move_in
            ),
        )
        .order_by(_staging.c.line)
        .limit(problems.room + 1)
    ).all()
    for row in with_stored:
        problems.add(
            row.line,
            "move_in" if row.starts_before else "move_out",
            f"supply period overlaps the stored one from {row.move_in} "
            f"to {row.move_out or 'no end'}",
        )


def _overlap(period: FromClause, day: ColumnExpressionArgument[dt.date]) -> ColumnElement[bool]:
    """``period`` has not ended by ``day``."""
    move_out = period.c.move_out
    return or_(move_out.is_(None), move_out > day)


def _write(conn: Connection, name: str, rows: int) -> MeteringPointReport:
    """Store end users, metering points and supply periods from the staging table.

    Rows equal to what is stored are not rewritten, so they are not counted.
    Stored rows that differ are updated first, then the new ones are inserted
    with plain ``INSERT ... SELECT`` in key order: ``ON CONFLICT`` costs a
    speculative insertion per row, and key order keeps index insertions and
    the supply periods' foreign-key checks on pages just visited (random order
    made the 3.2 M row import twice as slow on PostgreSQL). Only end users can
    be added by others meanwhile (log-ins), so only they keep ``ON CONFLICT``.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # ``WHERE true``: SQLite cannot otherwise parse INSERT ... SELECT ... ON CONFLICT.
    # An id the cache lost sight of is sealed again with another nonce: the rows then
    # differ, and ON CONFLICT keeps the first.
    end_users = (
        dialect.insert(EndUser)
        .from_select(
            ["national_id_hash", "national_id_key_id", "national_id_cipher", "kind"],
            select(
                _staging.c.national_id_hash,
                _staging.c.national_id_key_id,
                _staging.c.national_id_cipher,
                _staging.c.kind,
            )
            .distinct()
            .where(true())
            .order_by(_staging.c.national_id_hash),
        )
        .on_conflict_do_nothing(index_elements=[EndUser.national_id_hash])
    )
    created = _count(conn, end_users)

    points = MeteringPoint.__table__.c
    # The master-data check made all rows of a metering point agree, so any of them will do
    # for the update (each stored row is updated once), and DISTINCT leaves one per GSRN.
    metering_points = _count(
        conn,
        update(MeteringPoint)
        .values({name: _staging.c[name] for name in MASTER_DATA})
        .where(
            points.gsrn == _staging.c.gsrn,
            or_(*(points[name].is_distinct_from(_staging.c[name]) for name in MASTER_DATA)),
        ),
    )
    metering_points += _count(
        conn,
        insert(MeteringPoint).from_select(
            ["gsrn", *MASTER_DATA, "extended_storage"],
            select(_staging.c.gsrn, *(_staging.c[name] for name in MASTER_DATA), literal(False))
            .distinct()
            .where(~exists().where(points.gsrn == _staging.c.gsrn))
            .order_by(_staging.c.gsrn),
        ),
    )

    periods = SupplyPeriod.__table__.c
    resolved = (
        select(
            MeteringPoint.id.label("metering_point_id"),
            EndUser.id.label("end_user_id"),
            _staging.c.move_in,
            _staging.c.move_out,
        )
        .join(MeteringPoint, MeteringPoint.gsrn == _staging.c.gsrn)
        .join(EndUser, EndUser.national_id_hash == _staging.c.national_id_hash)
    )
    given = resolved.subquery("given")
    supply_periods = _count(
        conn,
        update(SupplyPeriod)
        .values(end_user_id=given.c.end_user_id, move_out=given.c.move_out)
        .where(
            periods.metering_point_id == given.c.metering_point_id,
            periods.move_in == given.c.move_in,
            or_(
                periods.end_user_id != given.c.end_user_id,
                periods.move_out.is_distinct_from(given.c.move_out),
            ),
        ),
    )
    supply_periods += _count(
        conn,
        insert(SupplyPeriod).from_select(
            ["metering_point_id", "end_user_id", "move_in", "move_out"],
            resolved.where(
                ~exists().where(
                    periods.metering_point_id == MeteringPoint.id,
                    periods.move_in == _staging.c.move_in,
                )
            ).order_by(_staging.c.gsrn, _staging.c.move_in),
        ),
    )
    return MeteringPointReport(
        file=name,
        rows=rows,
        metering_points=metering_points,
        supply_periods=supply_periods,
        end_users_created=created,
    )


def _count(conn: Connection, statement: Executable) -> int:
    """Run an INSERT or UPDATE and return how many rows it wrote."""
    return conn.execute(statement, execution_options=_ROWCOUNT).rowcount
