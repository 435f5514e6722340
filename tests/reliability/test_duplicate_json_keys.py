"""Defect 13: a JSON token request naming a parameter twice is refused, as a form one is."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from consenthub.domain.errors import Code, DomainError
from consenthub.store.database import Database
from consenthub.token_service.handler import read_params
from tests.factories import add_party
from tests.harness import LiveServer


def post_json(server: LiveServer, body: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/sts/Token",
        content=body.encode(),
        headers={"content-type": "application/json"},
    )


def members(creds: Any) -> str:
    return (
        f'"grant_type": "client_credentials", "client_id": "{creds.party.client_id}", '
        f'"client_secret": "{creds.client_secret}"'
    )


@pytest.mark.parametrize(
    ("duplicate", "name"),
    [
        ('"client_secret": "wrong"', "client_secret"),
        ('"client_secret":"wrong"', "client_secret"),
        ('"client_secre\\u0074": "wrong"', "client_secret"),  # the same key, escaped
        ('"client_secret": "say \\"hi\\""', "client_secret"),
        ('"grant_type": "client_credentials"', "grant_type"),
        ('"client_id": "00000000-0000-4000-8000-000000000000"', "client_id"),
    ],
)
def test_a_json_key_given_twice_is_400_naming_it(
    live_server: LiveServer, db: Database, duplicate: str, name: str
) -> None:
    creds = add_party(db)
    for body in (f"{{{duplicate}, {members(creds)}}}", f"{{{members(creds)}, {duplicate}}}"):
        response = post_json(live_server, body)
        assert response.status_code == 400, body
        answer = response.json()
        assert answer["code"] == "CH1001"
        assert answer["error"] == "invalid_request"
        assert name in answer["message"]


@pytest.mark.parametrize("value", ["1", "null", '{"a": "b"}', '["wrong"]'])
def test_a_json_key_given_twice_once_not_as_a_string_is_400(
    live_server: LiveServer, db: Database, value: str
) -> None:
    """Named when the last one is a string; else the body is refused for its type."""
    creds = add_party(db)
    duplicate = f'"client_secret": {value}'
    first = post_json(live_server, f"{{{duplicate}, {members(creds)}}}")
    last = post_json(live_server, f"{{{members(creds)}, {duplicate}}}")
    assert first.status_code == last.status_code == 400
    assert first.json()["code"] == last.json()["code"] == "CH1001"
    assert "client_secret" in first.json()["message"]
    assert "string values" in last.json()["message"]


@pytest.mark.parametrize(
    "extra",
    [
        "",
        ', "note": "say \\"hi\\""',  # escaped quotes: more quotes, but no key twice
        ', "note": "\\"client_secret\\": \\"x\\""',
        ', "client_secret_2": "x"',
    ],
)
def test_a_json_body_with_each_key_once_is_accepted(
    live_server: LiveServer, db: Database, extra: str
) -> None:
    creds = add_party(db)
    response = post_json(live_server, f"{{{members(creds)}{extra}}}")
    assert response.status_code == 200, response.text


def read(body: bytes) -> dict[str, str]:
    """``read_params`` of a JSON request with this body."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/sts/Token",
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    # In a thread of its own: the browser tests' Playwright keeps an event loop running
    # in the main thread, where asyncio.run refuses to start another.
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, read_params(Request(scope, receive))).result()


@given(
    params=st.dictionaries(st.text(max_size=8), st.text(max_size=8), min_size=1, max_size=5),
    repeat=st.booleans(),
    ascii_only=st.booleans(),
    data=st.data(),
)
def test_read_params_refuses_a_json_key_exactly_when_it_is_given_twice(
    params: dict[str, str], repeat: bool, ascii_only: bool, data: st.DataObject
) -> None:
    members = list(params.items())
    if repeat:
        name = data.draw(st.sampled_from(sorted(params)))
        members.insert(data.draw(st.integers(0, len(members))), (name, data.draw(st.text())))
    encoded = ", ".join(
        f"{json.dumps(key, ensure_ascii=ascii_only)}: {json.dumps(value, ensure_ascii=ascii_only)}"
        for key, value in members
    )
    body = f"{{{encoded}}}"
    if repeat:
        with pytest.raises(DomainError) as refused:
            read(body.encode())
        assert refused.value.code is Code.TOKEN_REQUEST_INVALID
        assert f"parameter {name} given more than once" in str(refused.value.detail)
    else:
        assert read(body.encode()) == params
