"""Roles and the OAuth scopes a token may carry (SPEC §2, §3; RFC 6749 §3.3)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consenthub.domain.parties import (
    ApiScope,
    Role,
    ScopeNotAllowed,
    allowed_scopes,
    grant_scopes,
)

FAST = settings(max_examples=60, deadline=None)

# The table the token service promises, written out independently of ROLE_SCOPES.
EXPECTED_SCOPES = {
    "third_party": {"data:read", "third-party-access"},
    "seller": {"data:read", "authorization-requests"},
    "consent_consumer": {"consent"},
    "data_source": {"introspect"},
}
ALL_SCOPES = {scope for scopes in EXPECTED_SCOPES.values() for scope in scopes}
ROLE_SETS = [
    list(combination)
    for size in range(len(EXPECTED_SCOPES) + 1)
    for combination in itertools.combinations(sorted(EXPECTED_SCOPES), size)
]


def expected_for(roles: list[str]) -> set[str]:
    return set().union(*(EXPECTED_SCOPES[role] for role in roles))


def test_the_table_covers_every_role_and_scope() -> None:
    assert {role.value for role in Role} == set(EXPECTED_SCOPES)
    assert {scope.value for scope in ApiScope} == ALL_SCOPES


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda roles: "+".join(roles) or "none")
@pytest.mark.parametrize("requested", [None, "", " ", "  \t "])
def test_no_scope_means_every_scope_the_roles_allow(
    roles: list[str], requested: str | None
) -> None:
    granted = grant_scopes(requested, roles)
    assert granted == sorted(expected_for(roles))
    assert all(type(scope) is str for scope in granted)
    assert allowed_scopes(roles) == frozenset(expected_for(roles))


@st.composite
def roles_and_allowed_request(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    roles = draw(st.lists(st.sampled_from(sorted(EXPECTED_SCOPES)), min_size=1, max_size=5))
    allowed = sorted(expected_for(roles))
    wanted = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=8))
    return roles, wanted


@FAST
@given(
    roles_and_allowed_request(),
    st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=8, max_size=8),
)
def test_allowed_scopes_are_granted_sorted_without_duplicates(
    case: tuple[list[str], list[str]], separators: list[str]
) -> None:
    roles, wanted = case
    requested = " " + "".join(
        scope + separator for scope, separator in zip(wanted, separators, strict=False)
    )
    granted = grant_scopes(requested, roles)
    assert granted == sorted(set(wanted))
    assert len(granted) == len(set(granted))
    assert set(granted) <= expected_for(roles)


def test_duplicates_collapse() -> None:
    assert grant_scopes("data:read data:read  data:read", ["third_party"]) == ["data:read"]
    assert grant_scopes(
        "third-party-access data:read third-party-access", ["third_party", "seller"]
    ) == ["data:read", "third-party-access"]


@FAST
@given(
    st.lists(st.sampled_from(sorted(EXPECTED_SCOPES)), max_size=4, unique=True),
    st.lists(
        st.sampled_from(sorted(ALL_SCOPES)) | st.from_regex(r"[a-z:_-]{1,12}", fullmatch=True),
        min_size=1,
        max_size=5,
    ),
)
def test_a_scope_outside_the_roles_is_refused(roles: list[str], wanted: list[str]) -> None:
    refused = [scope for scope in wanted if scope not in expected_for(roles)]
    if not refused:
        assert grant_scopes(" ".join(wanted), roles) == sorted(set(wanted))
        return
    with pytest.raises(ScopeNotAllowed) as info:
        grant_scopes(" ".join(wanted), roles)
    # The error names each refused scope once, and none of the allowed ones.
    assert str(info.value).split() == list(dict.fromkeys(refused))


@pytest.mark.parametrize(
    ("requested", "roles", "refused"),
    [
        ("consent", ["third_party"], "consent"),
        ("data:read introspect", ["seller"], "introspect"),
        ("admin", ["third_party", "seller", "consent_consumer", "data_source"], "admin"),
        ("DATA:READ", ["third_party"], "DATA:READ"),  # scopes are case-sensitive
        ("data:read", [], "data:read"),
        ("openid openid", ["third_party"], "openid"),
    ],
)
def test_scope_not_allowed_examples(requested: str, roles: list[str], refused: str) -> None:
    with pytest.raises(ScopeNotAllowed, match=f"^{refused}$"):
        grant_scopes(requested, roles)


def test_scope_not_allowed_is_a_value_error() -> None:
    assert issubclass(ScopeNotAllowed, ValueError)
