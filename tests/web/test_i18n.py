"""Portal translations: complete catalogs, a current template, pages in each language.

The catalogs are ``src/consenthub/translations/<lang>/LC_MESSAGES/messages.po``,
made from ``messages.pot`` by ``make translations``. English is the msgids, so
its catalog may leave a msgstr empty; nb, nn, fi and sv must translate everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from markupsafe import escape

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.i18n import LANGUAGES, TRANSLATIONS
from consenthub.store.database import Database
from consenthub.web.pages import LANGUAGE_COOKIE

ROOT = Path(__file__).resolve().parents[2]
POT = TRANSLATIONS / "messages.pot"
TRANSLATED = ("nb", "nn", "fi", "sv")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
HOW_TO_FIX = "run `make translations`, then translate the new messages in nb, nn, fi and sv"

# A page that needs no login: an authorization link with a malformed client_id.
BAD_LINK = "/third-party-access/authorize?client_id=123"
BAD_LINK_TITLE = "This link cannot be used"
REPEATED = "/third-party-access/authorize?client_id=1&client_id=2"
REPEATED_MESSAGE = "The parameter %(name)s is given more than once."


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def catalog_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def msgids(catalog: Catalog) -> set[str]:
    return {str(message.id) for message in catalog if message.id}


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def problems_in(language: str) -> list[str]:
    template = read_catalog(POT)
    catalog = read_catalog(catalog_path(language), language)
    problems: list[str] = []
    for expected in template:
        if not expected.id:
            continue
        msgid = str(expected.id)
        message = catalog.get(msgid, context=expected.context)
        if message is None:
            problems.append(f"missing from the catalog: {msgid!r}")
            continue
        msgstr = str(message.string or "")
        if message.fuzzy:
            problems.append(f"fuzzy (check it, then remove the flag): {msgid!r}")
        if language == "en":
            if msgstr and msgstr != msgid:
                problems.append(
                    f"English differs from the msgid (change the msgid instead): "
                    f"{msgid!r} -> {msgstr!r}"
                )
            continue
        if not msgstr:
            problems.append(f"not translated: {msgid!r}")
            continue
        if placeholders(msgstr) != placeholders(msgid):
            problems.append(
                f"placeholders {sorted(placeholders(msgstr))} instead of "
                f"{sorted(placeholders(msgid))}: {msgid!r} -> {msgstr!r}"
            )
            continue
        # Newstyle gettext always %-formats the result: a stray % must be written %%.
        try:
            msgstr % dict.fromkeys(placeholders(msgid), "x")
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"not a valid format string ({exc}): {msgstr!r}")
    stale = msgids(catalog) - msgids(template)
    if stale:
        problems.append(f"msgids no longer in messages.pot: {sorted(stale)}")
    return problems


@pytest.mark.parametrize("language", [*TRANSLATED, "en"])
def test_catalog_is_complete(language: str) -> None:
    problems = problems_in(language)
    assert not problems, (
        f"{shown(catalog_path(language))} has {len(problems)} problem(s) "
        f"({HOW_TO_FIX}):\n  " + "\n  ".join(problems)
    )


def test_every_language_has_a_catalog() -> None:
    assert set(LANGUAGES) == {*TRANSLATED, "en"}
    for language in LANGUAGES:
        assert catalog_path(language).is_file(), f"no catalog for {language}: {HOW_TO_FIX}"


def test_template_is_current(tmp_path: Path) -> None:
    """Extracting again gives the msgids of the committed messages.pot."""
    fresh = tmp_path / "messages.pot"
    # The same command as `make translations` (babel.cfg patterns are relative to the source dir).
    CommandLineInterface().run(
        [
            "pybabel",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-o",
            str(fresh),
            str(ROOT / "src" / "consenthub"),
        ]
    )
    extracted = msgids(read_catalog(fresh))
    committed = msgids(read_catalog(POT))
    assert len(extracted) > 50, "extraction found almost nothing: check babel.cfg"
    new = sorted(extracted - committed)
    gone = sorted(committed - extracted)
    assert (new, gone) == ([], []), (
        f"{shown(POT)} is out of date ({HOW_TO_FIX}).\n"
        f"  in the code but not in messages.pot: {new}\n"
        f"  in messages.pot but no longer in the code: {gone}"
    )


# --- pages in each language -------------------------------------------------


def translated(language: str, msgid: str) -> str:
    """The msgstr of the committed catalog (English: the msgid)."""
    message = read_catalog(catalog_path(language), language).get(msgid)
    return str(message.string) if message is not None and message.string else msgid


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


def assert_language(page: str, language: str, msgid: str = BAD_LINK_TITLE) -> None:
    assert f'<html lang="{language}">' in page
    assert str(escape(translated(language, msgid))) in page, f"{msgid!r} is not shown in {language}"
    for other in LANGUAGES:
        if other != language:
            assert str(escape(translated(other, msgid))) not in page, (
                f"the {language} page shows {msgid!r} in {other}"
            )


def test_the_languages_differ() -> None:
    """The page checks below can only tell the languages apart if the strings differ."""
    for msgid in (BAD_LINK_TITLE, REPEATED_MESSAGE):
        shown = {language: translated(language, msgid) for language in LANGUAGES}
        assert len(set(shown.values())) == len(LANGUAGES), shown


@pytest.mark.parametrize("language", LANGUAGES)
def test_page_in_chosen_language(client: TestClient, language: str) -> None:
    response = client.get(f"{BAD_LINK}&lang={language}")
    assert response.status_code == 400
    assert_language(response.text, language)
    assert response.cookies.get(LANGUAGE_COOKIE) == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_message_parameters_are_filled_after_translation(client: TestClient, language: str) -> None:
    response = client.get(f"{REPEATED}&lang={language}")
    assert response.status_code == 400
    expected = translated(language, REPEATED_MESSAGE) % {"name": "client_id"}
    assert str(escape(expected)) in response.text


def test_chosen_language_is_remembered(client: TestClient) -> None:
    first = client.get(f"{BAD_LINK}&lang=fi")
    assert_language(first.text, "fi")
    assert first.cookies.get(LANGUAGE_COOKIE) == "fi"
    # No parameter: the cookie keeps Finnish, even over the browser's preference.
    again = client.get(BAD_LINK, headers={"Accept-Language": "nb-NO,nb;q=0.9"})
    assert_language(again.text, "fi")
    # The switcher wins over the cookie and replaces it.
    switched = client.get(f"{BAD_LINK}&lang=nn")
    assert_language(switched.text, "nn")
    assert_language(client.get(BAD_LINK).text, "nn")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("nn-NO,nn;q=0.9", "nn"),
        ("fi", "fi"),
        ("fi-FI,fi;q=0.9,en;q=0.8", "fi"),
        ("en-GB,en;q=0.9,nb;q=0.5", "en"),
        ("de-DE,de;q=0.9,nn;q=0.5", "nn"),
        ("no", "nb"),
        ("sv-FI,sv;q=0.9,fi;q=0.8", "sv"),
    ],
)
def test_browser_language(client: TestClient, header: str, language: str) -> None:
    response = client.get(BAD_LINK, headers={"Accept-Language": header})
    assert_language(response.text, language)
    assert LANGUAGE_COOKIE not in response.cookies


@pytest.mark.parametrize(
    ("query", "header"),
    [
        ("&lang=de", None),
        ("&lang=de", "da-DK,da;q=0.9,de;q=0.5"),
        ("", "da-DK,da;q=0.9,de;q=0.5"),
        ("", None),
    ],
)
def test_unsupported_language_falls_back_to_default(
    client: TestClient, settings: Settings, query: str, header: str | None
) -> None:
    assert settings.default_language == "nb"
    headers = {"Accept-Language": header} if header else {}
    response = client.get(f"{BAD_LINK}{query}", headers=headers)
    assert_language(response.text, "nb")
    assert LANGUAGE_COOKIE not in response.cookies


def test_fallback_is_the_configured_default(settings: Settings, db: Database) -> None:
    finnish = settings.model_copy(update={"default_language": "fi"})
    with TestClient(create_app(finnish, db)) as test_client:
        response = test_client.get(f"{BAD_LINK}&lang=de", headers={"Accept-Language": "da"})
    assert_language(response.text, "fi")
