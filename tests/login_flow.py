"""Helpers for portal tests: persons at the OIDC provider and a login without a browser."""

from __future__ import annotations

import re

import httpx

from tests.harness import LiveServer


def csrf_of(page: str) -> str:
    """The CSRF token of the page's (first) form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def register_person(issuer: str, sub: str, **claims: str) -> None:
    """Create or replace a user at oidc-provider-mock (its ``PUT /users/{sub}``)."""
    response = httpx.put(f"{issuer}/users/{sub}", json=claims)
    response.raise_for_status()


def login(
    client: httpx.Client, server: LiveServer, sub: str, start: str = "/login"
) -> httpx.Response:
    """Follow the real authorization-code flow through the provider's login form."""
    response = client.get(f"{server.url}{start}", follow_redirects=False)
    while (
        response.status_code in (302, 303, 307)
        and "/oauth2/authorize" not in response.headers["location"]
    ):
        location = response.headers["location"]
        response = client.get(
            location if location.startswith("http") else f"{server.url}{location}",
            follow_redirects=False,
        )
    authorize_url = response.headers["location"]
    granted = client.post(authorize_url, data={"sub": sub}, follow_redirects=False)
    assert granted.status_code in (302, 303), granted.text
    return client.get(granted.headers["location"], follow_redirects=False)
