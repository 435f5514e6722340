"""URL-initiated third-party access (BRS-NO-624) in a real browser, end to end:
the example third-party app → the hub → the login provider → the hub's request page →
back to the example app, which verifies the signed answer and reads the data API.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from consenthub.i18n import LANGUAGES, TRANSLATIONS, translations
from tests.browser.conftest import (
    DESKTOP,
    PARTY_NAME,
    PHONE,
    ExampleApp,
    Person,
    Shot,
    open_request_page,
    wait_for_app_result,
)

APPROVE = "button[name=action][value=approve]"
REJECT = "button[name=action][value=reject]"
REQUEST_HEADING = "%(party)s asks for access to your electricity data"
FULL_SCOPE_TEXT = (
    "Full access: your meter values, the address and other details of the "
    "metering point, and your contract details such as when you moved in."
)


def hub_text(page: Page, msgid: str, **params: str) -> str:
    """``msgid`` as the hub shows it in the page's language (its own catalogs), so the
    checks hold in whichever language the page is in."""
    language = page.locator("html").get_attribute("lang") or "en"
    return translations(language).gettext(msgid) % params


def checkbox(page: Page, gsrn: str) -> Locator:
    return page.locator(f"input[name=metering_point][value='{gsrn}']")


def is_focused(locator: Locator) -> bool:
    return bool(locator.evaluate("element => element === document.activeElement"))


def tab_to(page: Page, target: Locator, limit: int = 60) -> int:
    """Press Tab until ``target`` has the focus; returns how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if is_focused(target):
            return presses
    pytest.fail(f"{target} cannot be reached with Tab ({limit} presses)")


def overflow(page: Page) -> str | None:
    """Why the page scrolls sideways (wider than the viewport), or None."""
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return f"{page.url} is {scroll}px wide in a {inner}px viewport" if scroll > inner else None


def assert_fits_width(page: Page) -> None:
    problem = overflow(page)
    assert problem is None, problem


def expect_request_page(page: Page) -> None:
    expect(page.locator("h1")).to_have_text(hub_text(page, REQUEST_HEADING, party=PARTY_NAME))
    expect(page.get_by_text(hub_text(page, FULL_SCOPE_TEXT))).to_be_visible()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_approve_one_of_two_metering_points(
    page: Page, example_app: ExampleApp, kari: Person, oidc_issuer: str, shot: Shot
) -> None:
    chosen, other = kari.points[1], kari.points[0]
    open_request_page(page, example_app, oidc_issuer, kari.sub, shot)
    expect_request_page(page)
    expect(checkbox(page, chosen.gsrn)).to_be_visible()
    expect(checkbox(page, other.gsrn)).to_be_visible()
    shot(page, "hub-request")
    assert_fits_width(page)

    checkbox(page, chosen.gsrn).check()
    page.click(APPROVE)

    wait_for_app_result(page, example_app, shot)
    expect(page.get_by_role("status")).to_contain_text("Verified")
    section = page.locator(f"#mp-{chosen.gsrn}")
    expect(section.locator(".start")).to_have_text(chosen.move_in.isoformat())
    expect(section.locator("tbody tr")).to_have_count(chosen.hours)
    expect(section.locator(".total")).to_have_text(chosen.total_kwh)
    expect(page.locator(f"#mp-{other.gsrn}")).to_have_count(0)
    expect(page.locator("section")).to_have_count(1)
    assert_fits_width(page)


def test_reject_shows_eh088_then_a_new_request_works(
    page: Page, example_app: ExampleApp, kari: Person, oidc_issuer: str, shot: Shot
) -> None:
    open_request_page(page, example_app, oidc_issuer, kari.sub, shot)
    shot(page, "hub-request")
    # Rejected from the keyboard: focus the button, activate it with Space.
    page.focus(REJECT)
    page.keyboard.press("Space")

    wait_for_app_result(page, example_app, shot)
    expect(page.locator("h1")).to_have_text("Not connected")
    expect(page.locator("main")).to_contain_text("You declined")
    expect(page.locator("code")).to_have_text("EH088")
    # The English page explains the code in English: no Norwegian wire message on it.
    expect(page.locator("main")).not_to_contain_text("Sluttbruker")
    expect(page.locator("[lang=nb]")).to_have_count(0)

    # Asking again (new request_id) needs no new login: the hub session is still there.
    page.get_by_role("link", name="Start again").click()
    shot(page, "app-start")
    page.get_by_role("button", name="Connect your meter data").click()
    page.wait_for_url(f"{example_app.hub.url}/minside/requests/**")
    shot(page, "hub-request")
    checkbox(page, kari.points[1].gsrn).check()
    page.click(APPROVE)
    wait_for_app_result(page, example_app, shot)
    expect(page.get_by_role("status")).to_contain_text("Verified")
    expect(page.locator(f"#mp-{kari.points[1].gsrn} .total")).to_have_text(kari.points[1].total_kwh)


def test_no_metering_points_shows_eh106(
    page: Page, example_app: ExampleApp, nora: str, oidc_issuer: str, shot: Shot
) -> None:
    open_request_page(page, example_app, oidc_issuer, nora, shot)
    expect(page.locator("h1")).to_have_text(hub_text(page, "You have no metering points"))
    expect(page.locator("input[name=metering_point]")).to_have_count(0)
    shot(page, "hub-no-metering-points")
    page.click("button[name=action][value=close]")

    wait_for_app_result(page, example_app, shot)
    expect(page.locator("main")).to_contain_text("no metering point registered on you")
    expect(page.locator("code")).to_have_text("EH106")


def test_language_switch_and_keyboard_only_approval(
    page: Page, example_app: ExampleApp, kari: Person, oidc_issuer: str, shot: Shot
) -> None:
    open_request_page(page, example_app, oidc_issuer, kari.sub, shot)
    shot(page, "hub-request")
    headings: dict[str, str] = {}
    for language in ("nb", "nn", "fi", "sv", "en"):
        page.locator(f"nav a[hreflang={language}]").click()
        page.wait_for_url(f"**?lang={language}")
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator(f"nav a[hreflang={language}]")).to_have_attribute(
            "aria-current", "true"
        )
        expect_request_page(page)  # the texts of that language's catalog
        headings[language] = page.locator("h1").inner_text()
        shot(page, f"hub-request-{language}")
    for language in LANGUAGES:
        if language != "en" and (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").exists():
            assert headings[language] != headings["en"], f"{language} heading is not translated"

    # Keyboard only: Tab to the first metering point, tick it with Space, Tab to
    # "Give access", press Enter. The focus must be visible on the way.
    page.goto(page.url.split("?")[0])
    first = checkbox(page, kari.points[0].gsrn)
    tab_to(page, first)
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    approve = page.locator(APPROVE)
    tab_to(page, approve)
    outline = approve.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline not in ("", "none"), "the focused approve button shows no focus outline"
    shot(page, "hub-request-keyboard-focus")
    page.keyboard.press("Enter")

    wait_for_app_result(page, example_app, shot)
    expect(page.get_by_role("status")).to_contain_text("Verified")
    expect(page.locator(f"#mp-{kari.points[0].gsrn} .total")).to_have_text(kari.points[0].total_kwh)


@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_portal_lists_the_grant_and_ends_it(
    page: Page, example_app: ExampleApp, kari: Person, oidc_issuer: str, shot: Shot
) -> None:
    point = kari.points[0]
    open_request_page(page, example_app, oidc_issuer, kari.sub, shot)
    shot(page, "hub-request")
    checkbox(page, point.gsrn).check()
    page.click(APPROVE)
    wait_for_app_result(page, example_app, shot)

    # The same browser is still logged in at the hub.
    page.goto(f"{example_app.hub.url}/minside")
    active = page.locator("section[aria-labelledby=active]")
    history = page.locator("section[aria-labelledby=history]")
    expect(active.locator("tbody tr")).to_have_count(1)
    expect(active.locator("tbody tr")).to_contain_text(PARTY_NAME)
    expect(active.locator("tbody tr")).to_contain_text(point.gsrn)
    # The example app's read of yesterday's values is in the access log.
    expect(page.locator("section[aria-labelledby=log] tbody")).to_contain_text(point.gsrn)
    shot(page, "minside")
    assert_fits_width(page)

    # "End" asks first, and says plainly what the third party keeps.
    active.get_by_role("link", name=point.gsrn).click()
    page.wait_for_url("**/minside/grants/*/end")
    expect(page.locator("main")).to_contain_text(point.gsrn)
    expect(page.locator("main")).to_contain_text(PARTY_NAME)
    shot(page, "end-grant-confirm")
    assert_fits_width(page)
    page.get_by_role("button", name=hub_text(page, "End access")).click()
    page.wait_for_url("**/minside?notice=ended")
    expect(page.get_by_role("status")).to_be_visible()
    expect(active.locator("tbody tr")).to_have_count(0)
    ended = history.locator("li", has_text=point.gsrn)
    expect(ended).to_have_count(1)
    expect(ended).to_contain_text(PARTY_NAME)
    expect(ended).to_contain_text(hub_text(page, "access ended"))
    shot(page, "minside-ended")


def test_login_denied_at_provider_shows_the_hub_error_page(
    page: Page, example_app: ExampleApp, kari: Person, oidc_issuer: str, shot: Shot
) -> None:
    page.goto(example_app.url + "/")
    shot(page, "app-start")
    page.get_by_role("button", name="Connect your meter data").click()
    page.wait_for_url(f"{oidc_issuer}/**")
    shot(page, "provider-login")
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{example_app.hub.url}/**")
    shot(page, "hub-login-denied")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("h1")).to_have_text(hub_text(page, "Login failed"))
