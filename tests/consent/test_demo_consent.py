"""The demo's consent link (NAV as data source, the seed's template) is one the hub takes."""

from __future__ import annotations

import httpx

from consenthub.consent import service
from consenthub.demo import DEMO_CONSUMER, consent_demo_link, load_demo
from consenthub.services import Services


def test_the_demo_consent_link_is_valid(hub: Services) -> None:
    load_demo(hub.settings, hub.database, example_port=8001)
    link = consent_demo_link(hub.settings, "http://127.0.0.1:8001", hub.now())
    resolved = service.resolve_request(hub, httpx.URL(link).params.multi_items())
    assert resolved.consumer.name == DEMO_CONSUMER[0]
    assert "NAVN_SELSKAP" not in resolved.purpose
    assert f"trenger {DEMO_CONSUMER[0]} visse personopplysninger" in resolved.purpose
