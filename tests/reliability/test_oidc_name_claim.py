"""Defect 6: the OIDC ``name`` claim is cleaned and bounded before it reaches the database."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from consenthub.login.service import display_name
from consenthub.store.database import Database
from consenthub.store.tables import EndUser
from tests.factories import end_user_by_national_id, fnr
from tests.harness import LiveServer
from tests.login_flow import login, register_person


@pytest.mark.parametrize(
    ("claim", "shown"),
    [
        ("Kari Nordmann", "Kari Nordmann"),
        ("  Kari \n\t Nordmann ", "Kari Nordmann"),
        ("Kari\x00Nordmann", "Kari Nordmann"),
        ("Kari\x1b[31m Nordmann\x7f\x85", "Kari [31m Nordmann"),
        ("\ud800Kari Nordmann\udfff", "Kari Nordmann"),  # lone surrogates: not encodable
        ("Åse Ødegård-Ærø", "Åse Ødegård-Ærø"),
        ("N" * 300, "N" * 200),
        ("N" * 199 + " Nordmann", "N" * 199),
        ("", None),
        (" \x00\n ", None),
        (None, None),
        (42, None),
        (["Kari"], None),
    ],
)
def test_display_name_strips_control_characters_and_fits_the_column(
    claim: object, shown: str | None
) -> None:
    assert display_name(claim) == shown


@pytest.mark.parametrize(
    ("claim", "stored"),
    [("N" * 300, "N" * 200), ("Kari\x00Nordmann", "Kari Nordmann")],
    ids=["300-characters", "nul"],
)
def test_login_with_a_long_or_nul_name_claim_succeeds(
    portal_server: LiveServer, db: Database, oidc_issuer: str, claim: str, stored: str
) -> None:
    national_id = fnr(9, 9, 79)
    register_person(oidc_issuer, "long-name", pid=national_id, name=claim)
    with httpx.Client() as client:
        answer = login(client, portal_server, "long-name")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/minside"
        page = client.get(f"{portal_server.url}/minside")
    assert page.status_code == 200
    assert stored in page.text
    with db.read() as conn:
        name = conn.execute(
            select(EndUser.name).where(EndUser.id == end_user_by_national_id(db, national_id))
        ).scalar_one()
    assert name == stored
