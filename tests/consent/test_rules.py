"""The pure rules of Altinn consent requests (seed 002), one per parameter rule."""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

import pytest

from consenthub.consent import rules
from consenthub.consent.errors import ConsentRequestError
from consenthub.domain.consent import ConsentResource, ParameterFormat, ResourceParameter
from tests.factories import fnr

OSLO = ZoneInfo("Europe/Oslo")
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
NAV = ConsentResource(
    code="5252_1",
    data_source_id=1,
    data_source_name="NAV",
    titles={"nb": "Uføreopplysninger", "nn": "Uføreopplysningar", "en": "Disability data"},
    context_template="NAVN_SELSKAP trenger opplysninger",
    parameters=(
        ResourceParameter("fraOgMed", ParameterFormat.DATE, required=True),
        ResourceParameter("tilOgMed", ParameterFormat.DATE, required=True),
        ResourceParameter("saksnummer", ParameterFormat.TEXT, required=False),
    ),
    max_duration_days=365,
    one_time=False,
)


def named(error: pytest.ExceptionInfo[ConsentRequestError]) -> str:
    return error.value.params["name"]


def test_a_parameter_given_twice_is_refused() -> None:
    with pytest.raises(ConsentRequestError) as error:
        rules.single_parameters([("Resources", "5252_1"), ("Resources", "4629_2")])
    assert named(error) == "Resources"


def test_a_missing_mandatory_parameter_is_named() -> None:
    with pytest.raises(ConsentRequestError) as error:
        rules.required({"CoveredBy": "  "}, "CoveredBy")
    assert named(error) == "CoveredBy"


@pytest.mark.parametrize("value", ["token", "Code", ""])
def test_response_type_must_be_code(value: str) -> None:
    with pytest.raises(ConsentRequestError) as error:
        rules.response_type({"ResponseType": value})
    assert named(error) == "ResponseType"


def test_resources_are_codes_joined_by_dots() -> None:
    assert rules.resource_codes("4629_2.4630_1") == ["4629_2", "4630_1"]
    for bad in ("4629", "4629_2,4630_1", "4629_2.", "4629_2.4629_2"):
        with pytest.raises(ConsentRequestError) as error:
            rules.resource_codes(bad)
        assert named(error) == "Resources"


def test_resources_must_be_registered() -> None:
    with pytest.raises(ConsentRequestError) as error:
        rules.known_resources(["5252_1", "9999_1"], {"5252_1": NAV})
    assert named(error) == "Resources"


def test_covered_by_is_a_valid_organisation_number() -> None:
    assert rules.covered_by("974760673") == "974760673"
    with pytest.raises(ConsentRequestError) as error:
        rules.covered_by("974760674")
    assert named(error) == "CoveredBy"


@pytest.mark.parametrize(
    ("active", "roles"), [(False, ()), (False, ("consent_consumer",)), (True, ("third_party",))]
)
def test_only_an_active_registered_consumer_may_ask(active: bool, roles: tuple[str, ...]) -> None:
    with pytest.raises(ConsentRequestError) as error:
        rules.may_ask(active=active, roles=roles)
    assert named(error) == "CoveredBy"


def test_redirect_url_lies_in_the_return_domain() -> None:
    domains = ["forsikring.example.no"]
    assert rules.redirect_url("https://forsikring.example.no/svar?x=1", domains)
    assert rules.redirect_url("https://app.forsikring.example.no/svar", domains)
    for bad in (
        "https://evilforsikring.example.no/svar",
        "https://forsikring.example.no.evil.com/svar",
        "http://forsikring.example.no/svar",
        "https://user@forsikring.example.no/svar",
        "https://forsikring.example.no/svar#frag",
        "javascript:alert(1)",
        "/relative",
    ):
        with pytest.raises(ConsentRequestError) as error:
            rules.redirect_url(bad, domains)
        assert named(error) == "RedirectUrl", bad


def test_valid_to_date_format_future_and_maximum() -> None:
    end = rules.valid_to("2026-12-31 23:59:59", OSLO, NOW, [NAV])
    assert end == dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=OSLO)
    for bad in ("2026-12-31", "31.12.2026 23:59:59", "2026-05-31 12:00:00", "2027-06-02 12:00:00"):
        with pytest.raises(ConsentRequestError) as error:
            rules.valid_to(bad, OSLO, NOW, [NAV])
        assert named(error) == "ValidToDate", bad


def test_language_code_is_one_of_altinns_three() -> None:
    assert rules.language("nn-NO") == "nn"
    assert rules.language("nb-NO") == "nb"
    assert rules.language("en") == "en"
    assert rules.language(None) is None
    with pytest.raises(ConsentRequestError) as error:
        rules.language("nn")
    assert named(error) == "LanguageCode"


def test_delegation_context_is_bounded_and_fills_the_company_name() -> None:
    with pytest.raises(ConsentRequestError) as error:
        rules.delegation_context("x" * 4001)
    assert named(error) == "DelegationContext"
    with pytest.raises(ConsentRequestError):
        rules.delegation_context("bad\x00text")
    assert rules.purpose("NAVN_SELSKAP trenger, NAVN_SELSKAP får", "Vest AS") == (
        "Vest AS trenger, Vest AS får"
    )


def test_metadata_required_present_well_formed_and_in_order() -> None:
    good = {"5252_1_fraOgMed": "01.01.2026", "5252_1_tilOgMed": "31.12.2026"}
    assert rules.metadata(good, [NAV]) == {
        "5252_1": {"fraOgMed": "01.01.2026", "tilOgMed": "31.12.2026"}
    }
    cases = {
        "5252_1_tilOgMed": {"5252_1_fraOgMed": "01.01.2026"},
        "5252_1_fraOgMed": {**good, "5252_1_fraOgMed": "2026-01-01"},
        "5252_1_unknown": {**good, "5252_1_unknown": "x"},
    }
    for name, params in cases.items():
        with pytest.raises(ConsentRequestError) as error:
            rules.metadata(params, [NAV])
        assert named(error) == name
    with pytest.raises(ConsentRequestError) as error:
        rules.metadata({"5252_1_fraOgMed": "31.12.2026", "5252_1_tilOgMed": "01.01.2026"}, [NAV])
    assert named(error) == "5252_1_fraOgMed"
    with pytest.raises(ConsentRequestError):
        rules.metadata({**good, "5252_1_fraOgMed": "31.02.2026"}, [NAV])


def test_offered_by_is_a_person_not_an_organisation() -> None:
    person = fnr(5, 5, 80)
    assert rules.offered_by(person, allow_synthetic=False) == person
    assert rules.offered_by(None, allow_synthetic=False) is None
    for bad in ("974760673", "12345678901"):
        with pytest.raises(ConsentRequestError) as error:
            rules.offered_by(bad, allow_synthetic=False)
        assert named(error) == "OfferedBy"


def test_user_token_is_a_hex_sha256_compared_case_blind() -> None:
    person = fnr(5, 5, 80)
    digest = hashlib.sha256(person.encode()).hexdigest()
    assert rules.user_token(digest.upper()) == digest
    assert rules.identity_hash(person) == digest
    assert rules.same_person(rules.user_token(digest.upper()), rules.identity_hash(person))
    assert not rules.same_person(digest, rules.identity_hash(fnr(6, 6, 81)))
    assert rules.same_person(None, rules.identity_hash(person))
    with pytest.raises(ConsentRequestError) as error:
        rules.user_token("abc")
    assert named(error) == "UserToken"


def test_a_consent_lives_until_valid_to_unless_withdrawn_or_revoked() -> None:
    end = NOW + dt.timedelta(days=1)
    assert rules.is_live(valid_to=end, withdrawn_at=None, revoked_at=None, now=NOW)
    assert not rules.is_live(valid_to=NOW, withdrawn_at=None, revoked_at=None, now=NOW)
    assert not rules.is_live(valid_to=end, withdrawn_at=NOW, revoked_at=None, now=NOW)
    assert not rules.is_live(valid_to=end, withdrawn_at=None, revoked_at=NOW, now=NOW)


def test_a_one_time_consent_gives_one_token() -> None:
    assert rules.may_issue_token(live=True, one_time=True, used_at=None)
    assert not rules.may_issue_token(live=True, one_time=True, used_at=NOW)
    assert rules.may_issue_token(live=True, one_time=False, used_at=NOW)
    assert not rules.may_issue_token(live=False, one_time=False, used_at=None)
