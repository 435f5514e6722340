"""The error catalog (SPEC §3, §5, §6) and its document, docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consenthub.domain import errors as errors_module
from consenthub.domain.errors import CATALOG, ErrorCategory, ErrorSpec, error

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
SEED_CODES = ["E10", "EH010", "EH016", "EH017", "EH088", "EH098", "EH106", "EH111"]
# IANA "OAuth Extensions Error Registry" names an error body may carry.
OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_token",
    "insufficient_scope",
    "slow_down",
    "access_denied",
    "server_error",
    "temporarily_unavailable",
}
CODE_FORM = re.compile(r"E[0-9]+|EH[0-9]{3}|CH[1-9][0-9]{3}")
# The CHnnnn ranges and the parts of the service they belong to.
CH_GROUPS = {
    "1": "token service and authentication",
    "2": "input validation",
    "3": "data API",
    "4": "access requests",
    "5": "availability",
}

SPECS = list(CATALOG.values())
IDS = [spec.code for spec in SPECS]


def doc_rows() -> dict[str, list[str]]:
    """Table rows of docs/errors.md keyed by code: the cells, backticks removed."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        code = cells[0].strip("`")
        assert code not in rows, f"{code} is listed twice in {DOC.name}"
        rows[code] = cells
    return rows


def expected_row(spec: ErrorSpec) -> list[str]:
    oauth = f"`{spec.oauth_error}`" if spec.oauth_error else "—"
    return [
        f"`{spec.code}`",
        str(spec.status),
        spec.category.value,
        oauth,
        spec.message_en,
        spec.message_nb,
    ]


def test_seed_codes_exist() -> None:
    for code in SEED_CODES:
        assert code in CATALOG, code


def test_codes_are_unique_and_well_formed() -> None:
    codes = [entry.code for entry in errors_module._ENTRIES]
    assert len(codes) == len(set(codes)), "duplicate code in the catalog"
    assert len(CATALOG) == len(codes)
    for code, spec in CATALOG.items():
        assert spec.code == code
        assert CODE_FORM.fullmatch(code), code


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_status_is_an_error_status(spec: ErrorSpec) -> None:
    assert isinstance(spec.status, int)
    assert 400 <= spec.status <= 599


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_both_messages_are_present(spec: ErrorSpec) -> None:
    for message in (spec.message_en, spec.message_nb):
        assert isinstance(message, str)
        assert message.strip() == message
        assert len(message.split()) >= 2
        assert "|" not in message  # would break the table in docs/errors.md
    assert spec.message_en != spec.message_nb, "the Norwegian message is not translated"
    assert spec.message("nb") == spec.message_nb
    assert spec.message("en") == spec.message_en


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_status_category_and_oauth_name_agree(spec: ErrorSpec) -> None:
    assert isinstance(spec.category, ErrorCategory)
    if spec.status == 500:
        assert spec.category is ErrorCategory.INTERNAL
    if spec.status == 503:
        assert spec.category is ErrorCategory.UNAVAILABLE
    if spec.status == 401:
        assert spec.category is ErrorCategory.AUTHENTICATION
    if spec.status == 404:
        assert spec.category is ErrorCategory.NOT_FOUND
    if spec.status == 429:
        assert spec.category is ErrorCategory.RATE_LIMIT
    if spec.oauth_error is not None:
        assert spec.oauth_error in OAUTH_ERRORS
    # RFC 6749 §5.2 and RFC 6750 §3.1 fix these statuses.
    expected_status = {
        "invalid_client": 401,
        "invalid_token": 401,
        "insufficient_scope": 403,
        "invalid_scope": 400,
        "unsupported_grant_type": 400,
    }
    if spec.oauth_error in expected_status:
        assert spec.status == expected_status[spec.oauth_error]


def test_seed_codes_keep_the_seeds_norwegian_wording() -> None:
    # Seeds 000 and 001, word for word where one rule has one code.
    assert error("EH010").message_nb == "Målepunkt må være et avregningspunkt"
    assert error("EH088").message_nb == (
        "Sluttbruker må godkjenne tredjeparts forespørsel på tilgang"
    )
    assert error("EH098").message_nb == "Forespørsel fra tredjepart foreligger allerede"
    assert error("EH106").message_nb == "Sluttbruker eier ingen målepunkt"
    assert error("EH111").message_nb == "Intern feil – prøv igjen senere"
    assert error("EH111").status == 500


def test_unknown_code_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        error("CH9999")


# --------------------------------------------------------------------------
# docs/errors.md
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_code_is_documented_as_in_the_catalog(spec: ErrorSpec) -> None:
    rows = doc_rows()
    assert spec.code in rows, (
        f"{spec.code} is missing from docs/errors.md; add the row\n"
        f"| {' | '.join(expected_row(spec))} | <where it is used> |"
    )
    cells = rows[spec.code]
    assert cells[:6] == expected_row(spec), f"docs/errors.md disagrees with the catalog: {cells}"
    assert len(cells) == 7
    assert len(cells[6].split()) >= 3, f"{spec.code}: say where the code is used"


def test_doc_lists_no_code_the_catalog_lacks() -> None:
    stale = sorted(set(doc_rows()) - set(CATALOG))
    assert not stale, f"docs/errors.md lists codes the catalog does not have: {stale}"


def test_doc_groups_codes_by_origin() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "BRS-NO-622" in text
    assert "BRS-NO-624" in text
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    for code in CATALOG:
        section = next(part for part in sections if f"| `{code}` |" in part)
        heading = section.splitlines()[0]
        if code.startswith("CH"):
            assert heading.startswith(f"CH{code[2]}xxx"), (code, heading)
            if code[2] in CH_GROUPS:
                assert CH_GROUPS[code[2]] in heading, (code, heading)
        else:
            assert heading.startswith("Seed codes"), (code, heading)
