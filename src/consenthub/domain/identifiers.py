"""Identifier validation (SPEC §1). Pure functions, no I/O.

Every validator takes the raw string from the wire and returns the canonical
form, or raises :class:`InvalidIdentifier` naming the rule that failed. Check
digits are computed by python-stdnum (GS1's mod 10 by the same formula here, for
speed); consenthub only decides which rules apply.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from stdnum.fi import hetu, ytunnus
from stdnum.no import fodselsnummer, orgnr


class IdentifierKind(StrEnum):
    GLN = "gln"
    GSRN = "gsrn"
    ORGNR = "orgnr"
    FODSELSNUMMER = "fodselsnummer"
    HETU = "hetu"
    YTUNNUS = "ytunnus"
    UUID = "uuid"


@dataclass(frozen=True)
class InvalidIdentifier(ValueError):
    """A value that is not a valid identifier of the expected kind."""

    kind: IdentifierKind
    rule: str

    def __str__(self) -> str:
        return self.rule


def _is_ascii_digits(value: str) -> bool:
    # Not str.isdigit() (accepts other scripts' digits) and not stdnum's
    # isdigits() (a ``$`` regex that lets a trailing newline through).
    return value.isascii() and value.isdigit()


def _digits(value: str, kind: IdentifierKind, length: int) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(kind, "must be a string")
    if len(value) != length or not _is_ascii_digits(value):
        raise InvalidIdentifier(kind, f"must be exactly {length} digits")
    return value


def _gs1_mod10(value: str, kind: IdentifierKind) -> str:
    # GS1's mod 10 (stdnum's ``ean.calc_check_digit``, computed here: a BRS-NO-622 message
    # checks 10,000 GSRNs, and stdnum's generator took a third longer): weights 3 and 1
    # alternate leftwards from the digit before the check digit.
    body = value[:-1]
    total = 3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))
    if str(-total % 10) != value[-1]:
        raise InvalidIdentifier(kind, "GS1 mod-10 check digit does not match")
    return value


def validate_gln(value: str) -> str:
    """Global Location Number: 13 digits, GS1 mod-10 check digit."""
    return _gs1_mod10(_digits(value, IdentifierKind.GLN, 13), IdentifierKind.GLN)


GSRN_PREFIXES = ("707057", "643")


def validate_gsrn(value: str) -> str:
    """Metering point id (GSRN): 18 digits, GS1 mod-10 check digit.

    Norwegian metering points start with 707057 and Finnish accounting points
    with 643; other GS1 prefixes are accepted (a hub may serve other
    countries) because the check digit is what proves a well-formed GSRN.
    """
    return _gs1_mod10(_digits(value, IdentifierKind.GSRN, 18), IdentifierKind.GSRN)


def validate_orgnr(value: str) -> str:
    """Norwegian organisation number: 9 digits, mod-11 weights 3,2,7,6,5,4,3,2."""
    number = _digits(value, IdentifierKind.ORGNR, 9)
    if not orgnr.is_valid(number):
        raise InvalidIdentifier(IdentifierKind.ORGNR, "mod-11 check digit does not match")
    return number


_YTUNNUS_FORM = re.compile(r"[0-9]{7}-[0-9]")


def validate_ytunnus(value: str) -> str:
    """Finnish business ID (Y-tunnus), exactly NNNNNNN-N.

    The form is checked here, not left to stdnum, whose ``compact`` would also
    accept surrounding whitespace, missing or extra hyphens and an ``FI`` VAT
    prefix (an ALV number is not a business ID).
    """
    kind = IdentifierKind.YTUNNUS
    if not isinstance(value, str) or not _YTUNNUS_FORM.fullmatch(value):
        raise InvalidIdentifier(kind, "must be 7 digits, a hyphen and a check digit")
    if not ytunnus.is_valid(value):
        raise InvalidIdentifier(kind, "mod-11 check digit does not match")
    return str(ytunnus.format(value))


class FodselsnummerType(StrEnum):
    FODSELSNUMMER = "fodselsnummer"
    D_NUMBER = "d-number"
    SYNTHETIC = "synthetic"


def classify_fodselsnummer(value: str, *, allow_synthetic: bool) -> FodselsnummerType:
    """Validate a fødselsnummer or D-number and say which kind it is.

    Both mod-11 control digits must match. A D-number has 4 added to the
    first digit. Synthetic test numbers (NAV: month + 40, Skatteetaten's
    Tenor: month + 80) are accepted only when ``allow_synthetic`` is true.
    """
    kind = IdentifierKind.FODSELSNUMMER
    number = _digits(value, kind, 11)
    if fodselsnummer.calc_check_digit1(number) != number[9]:
        raise InvalidIdentifier(kind, "first mod-11 control digit does not match")
    if fodselsnummer.calc_check_digit2(number) != number[10]:
        raise InvalidIdentifier(kind, "second mod-11 control digit does not match")
    day, month, year = int(number[0:2]), int(number[2:4]), int(number[4:6])
    individual = int(number[6:9])
    number_type = FodselsnummerType.FODSELSNUMMER
    if day > 40:
        day -= 40
        number_type = FodselsnummerType.D_NUMBER
    if month > 40:
        if not allow_synthetic:
            raise InvalidIdentifier(kind, "synthetic test numbers are not accepted here")
        month -= 80 if month > 80 else 40
        number_type = FodselsnummerType.SYNTHETIC
    century = _fodselsnummer_century(individual, year)
    if century is None:
        raise InvalidIdentifier(kind, "individual number does not fit the birth year")
    try:
        birth_date = dt.date(century + year, month, day)
    except ValueError:
        raise InvalidIdentifier(kind, "does not start with a valid birth date") from None
    if birth_date > dt.date.today():
        raise InvalidIdentifier(kind, "birth date lies in the future")
    return number_type


def _fodselsnummer_century(individual: int, year: int) -> int | None:
    # Skatteetaten's table of individual-number ranges per birth century.
    if individual < 500:
        return 1900
    if individual < 750 and year >= 54:
        return 1800
    if individual >= 900 and year >= 40:
        return 1900
    if year < 40:
        return 2000
    return None


def validate_fodselsnummer(value: str, *, allow_synthetic: bool = False) -> str:
    classify_fodselsnummer(value, allow_synthetic=allow_synthetic)
    return value


_HETU_FORM = re.compile(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]", re.IGNORECASE | re.ASCII)
_HETU_CENTURIES = {"+": 1800, **dict.fromkeys("-UVWXY", 1900), **dict.fromkeys("ABCDEF", 2000)}


def validate_hetu(value: str, *, allow_synthetic: bool = False) -> str:
    """Finnish personal identity code (henkilötunnus), canonical upper case.

    Individual numbers 900-999 are reserved for temporary and test codes;
    they are accepted only when ``allow_synthetic`` is true. The form is
    checked here (stdnum would strip whitespace and map Unicode dashes).
    """
    kind = IdentifierKind.HETU
    if not isinstance(value, str) or not _HETU_FORM.fullmatch(value):
        raise InvalidIdentifier(
            kind, "must be DDMMYY, a century sign, 3 digits and a check character"
        )
    number = value.upper()
    if not hetu.is_valid(number, allow_temporary=True):
        raise InvalidIdentifier(
            kind, "does not have a valid birth date, individual number and check character"
        )
    if int(number[7:10]) >= 900 and not allow_synthetic:
        raise InvalidIdentifier(kind, "temporary and test codes are not accepted here")
    birth_date = dt.date(
        _HETU_CENTURIES[number[6]] + int(number[4:6]), int(number[2:4]), int(number[0:2])
    )
    if birth_date > dt.date.today():
        raise InvalidIdentifier(kind, "birth date lies in the future")
    return number


def validate_uuid(value: str) -> str:
    """A UUID in canonical lower-case hyphenated form."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InvalidIdentifier(IdentifierKind.UUID, "must be a UUID") from None
    if str(parsed) != value.lower():
        raise InvalidIdentifier(IdentifierKind.UUID, "must be a UUID in 8-4-4-4-12 form")
    return str(parsed)


# RFC 9562 §5.4: the version nibble (4) and the variant bits (10) of a random UUID.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4_text(random_bits: int) -> str:
    """The canonical text of the version-4 UUID made of ``random_bits`` (128 of them):
    ``str(uuid.UUID(int=random_bits, version=4))`` at half its cost, for the ids the
    token endpoint makes on every request (the correlation id, the token's ``jti``)."""
    digits = "%032x" % (random_bits & _UUID4_CLEAR | _UUID4_SET)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class EndUserIdKind(StrEnum):
    PERSON_NO = "person-no"
    PERSON_FI = "person-fi"
    ORGANISATION_NO = "organisation-no"
    ORGANISATION_FI = "organisation-fi"


def validate_end_user_id(value: str, *, allow_synthetic: bool = False) -> tuple[str, EndUserIdKind]:
    """An end user: Norwegian fnr/D-number, HETU, Norwegian org no. or Y-tunnus.

    The form decides which rule applies (11 digits: fødselsnummer, 9 digits:
    organisation number, 11 characters with a century sign: HETU, 9 with a
    hyphen: Y-tunnus), so the error names the rule the value was held to.
    """
    if not isinstance(value, str) or not value:
        raise InvalidIdentifier(IdentifierKind.FODSELSNUMMER, "is required")
    if _is_ascii_digits(value) and len(value) == 11:
        number = validate_fodselsnummer(value, allow_synthetic=allow_synthetic)
        return number, EndUserIdKind.PERSON_NO
    if _is_ascii_digits(value) and len(value) == 9:
        return validate_orgnr(value), EndUserIdKind.ORGANISATION_NO
    if len(value) == 9 and value[7] == "-":
        return validate_ytunnus(value), EndUserIdKind.ORGANISATION_FI
    if len(value) == 11:
        return validate_hetu(value, allow_synthetic=allow_synthetic), EndUserIdKind.PERSON_FI
    raise InvalidIdentifier(
        IdentifierKind.FODSELSNUMMER,
        "must be a fødselsnummer/D-number (11 digits), a Finnish personal identity code, "
        "an organisation number (9 digits) or a Finnish business ID",
    )


# Candidates in free text: 11 digits not part of a longer run, or the form of a HETU.
_NATIONAL_ID_CANDIDATE = re.compile(
    r"(?<![0-9])[0-9]{11}(?![0-9])|(?<![0-9A-Za-z])[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y](?![0-9A-Za-z])",
    re.IGNORECASE | re.ASCII,
)


def contains_national_id(text: str) -> bool:
    """Whether ``text`` holds a valid fødselsnummer, D-number or HETU (test numbers too),
    so that free text a party writes can be refused before it reaches a mail or a page
    (house rule: national identity numbers never in mails)."""
    for match in _NATIONAL_ID_CANDIDATE.finditer(text):
        candidate = match.group(0)
        validate = validate_fodselsnummer if candidate.isdigit() else validate_hetu
        try:
            validate(candidate, allow_synthetic=True)
        except InvalidIdentifier:
            continue
        return True
    return False


def mask_national_id(value: str) -> str:
    """Show the birth-date part only: 010190*****, as SPEC §1 prescribes.

    Whatever the input, nothing after the sixth character is shown, so a
    malformed or padded number is not leaked either; a value of six
    characters or fewer is masked completely.
    """
    if len(value) <= 6:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 6)
