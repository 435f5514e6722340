"""Browser tests: Playwright (sync API) driving Debian's Chromium through the real flow.

The hub (``portal_server``), the login provider (``oidc_issuer``, a real
oidc-provider-mock process) and the example third-party app
(``examples/third_party_app.py``, in-process on its own loopback port) all run
for real; the browser clicks through them. Every page visited is saved as a
full-page screenshot under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from consenthub.store.database import Database
from tests.factories import (
    add_end_user,
    add_hourly_values,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gln,
    gsrn,
)
from tests.harness import LiveServer, ThreadedServer, free_port
from tests.login_flow import register_person

CHROMIUM = Path("/usr/bin/chromium")
# axe-core from the npm registry, installed by `make test` (`make axe`).
AXE = (
    Path(__file__).resolve().parents[2]
    / ".venv"
    / "axe"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PARTY_NAME = "Strømappen AS"
PARTY_SEED = 7
# Requests leaving the machine are cut off: the provider's page links a CDN stylesheet,
# and a test must not wait on (or depend on) the internet.
OFF_MACHINE = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])[a-z]+://")


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM} "
            "(apt-get install chromium); Playwright cannot download browsers here.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, to inject into pages; the accessibility check fails (never
    skips) without it."""
    if not AXE.exists():
        pytest.fail(
            f"The accessibility check needs axe-core at {AXE}: run `make axe` "
            "(npm install --prefix .venv/axe axe-core@4).",
            pytrace=False,
        )
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright, chromium_executable: Path) -> Iterator[Browser]:
    browser = playwright_session.chromium.launch(
        executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def viewport() -> dict[str, int]:
    """Desktop by default; a test parametrizes ``viewport`` to run at phone size."""
    return DESKTOP


@pytest.fixture
def context(browser: Browser, viewport: dict[str, int]) -> Iterator[BrowserContext]:
    """A fresh context per test (no cookies carried over), English pages
    (``Accept-Language: en-US``) so that texts are stable while catalogs change."""
    context = browser.new_context(viewport=viewport, locale="en-US")  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    context.route(OFF_MACHINE, lambda route: route.abort())
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shot(page, step)`` saves ``test-artifacts/screenshots/<test>-<step>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    taken: dict[str, int] = {}

    def save(page: Page, step: str) -> Path:
        taken[step] = taken.get(step, 0) + 1  # a page seen twice keeps both pictures
        suffix = f"-{taken[step]}" if taken[step] > 1 else ""
        path = SCREENSHOTS / f"{test}-{step}{suffix}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def load_example_module() -> ModuleType:
    name = "third_party_app_example"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "third_party_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class ExampleApp:
    url: str
    hub: LiveServer
    gln: str
    party_id: int


@pytest.fixture
def example_app(portal_server: LiveServer, db: Database) -> Iterator[ExampleApp]:
    """The example third-party app, registered at the hub with its callback as return URL."""
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    created = add_party(db, name=PARTY_NAME, seed=PARTY_SEED, return_urls=[f"{app_url}/callback"])
    module = load_example_module()
    config = module.Config(
        hub_url=portal_server.url,
        gln=gln(PARTY_SEED),
        client_id=created.party.client_id,
        client_secret=created.client_secret,
        app_url=app_url,
        hub_timezone=portal_server.settings.hub_timezone,
    )
    with ThreadedServer(module.create_app(config), port):
        yield ExampleApp(app_url, portal_server, gln(PARTY_SEED), created.party.id)


@dataclass(frozen=True)
class MeteringPointFixture:
    gsrn: str
    move_in: dt.date
    wh_first: int  # yesterday's values are wh_first, wh_first + 1, ... Wh per hour
    hours: int  # hours in yesterday (23 or 25 on DST days)

    @property
    def total_kwh(self) -> str:
        """Yesterday's total as the example app shows it."""
        return f"{sum(self.wh_first + i for i in range(self.hours)) / 1000:.3f}"


@dataclass(frozen=True)
class Person:
    sub: str
    end_user_id: int
    points: list[MeteringPointFixture]


def yesterday_bounds(zone_name: str) -> tuple[dt.datetime, int]:
    zone = ZoneInfo(zone_name)
    today = dt.datetime.now(zone).date()
    start = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(), tzinfo=zone)
    end = dt.datetime.combine(today, dt.time(), tzinfo=zone)
    return start, int((end.timestamp() - start.timestamp()) // 3600)


@pytest.fixture
def kari(db: Database, oidc_issuer: str, portal_server: LiveServer) -> Person:
    """A person with two metering points (moved in 2022-08-01 and 2023-05-01), both
    with hourly values for yesterday (different, so totals tell them apart)."""
    national_id = fnr(5, 5, 80)
    end_user = add_end_user(db, national_id)
    start, hours = yesterday_bounds(portal_server.settings.hub_timezone)
    points = []
    for seed, move_in, wh in ((31, dt.date(2022, 8, 1), 1500), (32, dt.date(2023, 5, 1), 700)):
        mp = add_metering_point(db, seed)
        add_supply(db, mp, end_user, move_in)
        add_hourly_values(db, mp, start, hours, wh=wh)
        points.append(MeteringPointFixture(gsrn(seed), move_in, wh, hours))
    register_person(oidc_issuer, "kari", pid=national_id, name="Kari Nordmann")
    return Person("kari", end_user, points)


@pytest.fixture
def nora(db: Database, oidc_issuer: str) -> str:
    """A person who owns no metering point."""
    register_person(oidc_issuer, "nora", pid=fnr(6, 6, 66), name="Nora Uten Målepunkt")
    return "nora"


Shot = Callable[[Page, str], Path]


def log_in_at_provider(page: Page, issuer: str, sub: str, shot: Shot) -> None:
    """On oidc-provider-mock's authorization form: type the person's ``sub`` and submit."""
    page.wait_for_url(f"{issuer}/**")
    shot(page, "provider-login")
    page.fill("input[name=sub]", sub)
    page.get_by_role("button", name="Authorize", exact=True).click()


def open_request_page(page: Page, app: ExampleApp, issuer: str, sub: str, shot: Shot) -> None:
    """Example app "/" → "Connect your meter data" → hub → login → the hub's request page."""
    page.goto(app.url + "/")
    shot(page, "app-start")
    page.get_by_role("button", name="Connect your meter data").click()
    log_in_at_provider(page, issuer, sub, shot)
    page.wait_for_url(f"{app.hub.url}/minside/requests/**")
    page.wait_for_load_state()


def wait_for_app_result(page: Page, app: ExampleApp, shot: Shot) -> None:
    page.wait_for_url(f"{app.url}/callback?response=*")
    page.wait_for_load_state()
    shot(page, "app-result")
