"""The pure rules of the BRS-NO-624 link, each on its own."""

from __future__ import annotations

import pytest

from consenthub.domain.access import Scope
from consenthub.domain.errors import Code
from consenthub.url_access import rules
from consenthub.url_access.errors import LinkError

RETURN = "https://app.example/callback"
OTHER = "https://app.example/other"


def test_each_link_parameter_at_most_once_others_ignored() -> None:
    pairs = [("client_id", "1"), ("scope", "Full"), ("utm", "a"), ("utm", "b")]
    assert rules.single_parameters(pairs) == {"client_id": "1", "scope": "Full"}
    with pytest.raises(LinkError) as raised:
        rules.single_parameters([("scope", "Full"), ("scope", "Limited")])
    assert raised.value.code is Code.LINK_INVALID
    assert raised.value.params == {"name": "scope"}


def test_only_an_active_third_party_may_ask() -> None:
    rules.may_ask(True, ["third_party"])
    with pytest.raises(LinkError):
        rules.may_ask(False, ["third_party"])
    with pytest.raises(LinkError):
        rules.may_ask(True, ["seller"])


def test_the_return_address_is_a_registered_one() -> None:
    assert rules.return_address([RETURN], None) == RETURN
    assert rules.return_address([RETURN, OTHER], OTHER) == OTHER
    with pytest.raises(LinkError, match="which return address"):
        rules.return_address([RETURN, OTHER], None)
    with pytest.raises(LinkError, match="not registered"):
        rules.return_address([RETURN], RETURN + "?x=1")
    with pytest.raises(LinkError):
        rules.return_address([], None)


def test_scope_is_full_or_limited() -> None:
    assert rules.scope_of("Full") is Scope.FULL
    assert rules.scope_of("Limited") is Scope.LIMITED
    for text in (None, "", "full", "Everything"):
        with pytest.raises(LinkError):
            rules.scope_of(text)


def test_a_link_opened_again_continues_only_unchanged_and_by_the_same_person() -> None:
    same = {"pending": True, "same_scope": True, "same_return_address": True}
    assert rules.continues(**same, owner=None, person=None)
    assert rules.continues(**same, owner=None, person=5)
    assert rules.continues(**same, owner=5, person=5)
    assert not rules.continues(**same, owner=5, person=6)
    assert not rules.continues(**same, owner=5, person=None)
    assert not rules.continues(**(same | {"pending": False}), owner=None, person=None)
    assert not rules.continues(**(same | {"same_scope": False}), owner=None, person=None)
    assert not rules.continues(**(same | {"same_return_address": False}), owner=None, person=None)
