"""examples/data_source.py verifies consent tokens offline with the hub's keys."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from joserfc.jwk import KeySet

from consenthub.consent import service
from consenthub.services import Services
from tests.consent.parties import add_consumer, add_nav, run_async
from tests.consent.test_service import pairs
from tests.factories import add_end_user, fnr

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data_source.py"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("data_source_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_verifies_a_consent_token_and_reads_its_period(hub: Services) -> None:
    person = add_end_user(hub.database, fnr(5, 5, 80))
    add_nav(hub.database)
    consumer = add_consumer(hub.database)
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    code = service.answer(hub, request_id, person, accept=True).code
    assert code is not None
    token = run_async(service.exchange_code(hub, consumer.party, {"code": code}))["access_token"]
    data_source = example()
    keys = KeySet.import_key_set(hub.keys.jwks())
    issuer, audience = hub.settings.token_issuer, hub.settings.token_audience
    claims = data_source.verify(token, keys, issuer, audience)
    assert data_source.period(claims) == {"fraOgMed": "01.01.2026", "tilOgMed": "31.12.2026"}
    with pytest.raises(data_source.Refused):
        data_source.verify(token, keys, issuer, "consenthub:prod")
    with pytest.raises(data_source.Refused):
        data_source.verify(token[:-4] + "AAAA", keys, issuer, audience)
