"""``/docs`` and ``/redoc`` work with no internet: every asset they load is the hub's own."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.harness import LiveServer


class _References(HTMLParser):
    """Every address a page loads: src and href attributes, and quoted URLs in its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        self.found += [value for name, value in attrs if name in {"src", "href"} and value]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.found += re.findall(r"""(?:url|href|src)\s*[:=]\s*['"]([^'"]+)['"]""", data)
            self.found += re.findall(r"""['"](https?://[^'"]+)['"]""", data)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_only_the_hubs_own_assets(live_server: LiveServer, page: str) -> None:
    answer = httpx.get(f"{live_server.url}{page}")
    assert answer.status_code == 200
    parser = _References()
    parser.feed(answer.text)
    assert parser.found, "the page references no assets"
    assert not re.search(r"https?://(?!127\.0\.0\.1)", answer.text), answer.text
    scripts = [ref for ref in parser.found if ref.endswith(".js")]
    assert scripts, parser.found
    for reference in parser.found:
        address = urljoin(f"{live_server.url}{page}", reference)
        assert urlsplit(address).netloc == urlsplit(live_server.url).netloc, reference
        assert httpx.get(address).status_code == 200, reference


def test_swagger_ui_oauth2_redirect_is_served(live_server: LiveServer) -> None:
    answer = httpx.get(f"{live_server.url}/docs/oauth2-redirect")
    assert answer.status_code == 200
    assert "oauth2" in answer.text.lower()
