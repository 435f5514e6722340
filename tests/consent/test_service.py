"""Use cases of Altinn consent (seed 002) on the database, with a movable clock: no
server and no login provider."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from consenthub import consent
from consenthub.consent import service
from consenthub.domain.errors import Code, DomainError
from consenthub.services import Services
from consenthub.store.tables import OutboxMessage
from consenthub.worker import Worker
from tests.consent.parties import CONSUMER_ORGNR, REDIRECT_URL, add_consumer, add_nav, run_async
from tests.factories import add_end_user, fnr
from tests.harness import EventLoopThread, MovableClock


def pairs(hub: Services, **changes: str) -> list[tuple[str, str]]:
    valid_to = (hub.now() + dt.timedelta(days=30)).astimezone(ZoneInfo("Europe/Oslo"))
    params = {
        "Resources": "5252_1",
        "CoveredBy": CONSUMER_ORGNR,
        "RedirectUrl": REDIRECT_URL,
        "ValidToDate": valid_to.strftime("%Y-%m-%d %H:%M:%S"),
        "DelegationContext": "NAVN_SELSKAP trenger opplysninger.",
        "ResponseType": "code",
        "5252_1_fraOgMed": "01.01.2026",
        "5252_1_tilOgMed": "31.12.2026",
        **changes,
    }
    return list(params.items())


@pytest.fixture
def person(hub: Services) -> int:
    return add_end_user(hub.database, fnr(5, 5, 80))


def events(hub: Services) -> list[str]:
    with hub.database.read() as conn:
        return list(
            conn.execute(select(OutboxMessage.event_type).order_by(OutboxMessage.id)).scalars()
        )


def test_accept_records_the_consent_and_tells_the_consumer(hub: Services, person: int) -> None:
    add_nav(hub.database)
    consumer = add_consumer(hub.database, webhook_url="https://forsikring.example.no/hooks")
    link = service.resolve_request(hub, pairs(hub))
    assert link.purpose == "Forsikring Vest AS trenger opplysninger."
    request_id = service.create_request(hub, link)
    view = service.open_request(hub, request_id, person)
    assert view.consumer_name == "Forsikring Vest AS"
    answered = service.answer(hub, request_id, person, accept=True)
    assert answered.redirect_url == REDIRECT_URL
    assert answered.code
    body = run_async(service.exchange_code(hub, consumer.party, {"code": answered.code}))
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert "consent.created" in events(hub)
    assert "consent.accepted" in events(hub)
    # A request is answered once.
    with pytest.raises(DomainError) as error:
        service.answer(hub, request_id, person, accept=False)
    assert error.value.code is Code.REQUEST_CLOSED


def test_decline_tells_the_consumer(hub: Services, person: int) -> None:
    add_nav(hub.database)
    add_consumer(hub.database, webhook_url="https://forsikring.example.no/hooks")
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    assert service.answer(hub, request_id, person, accept=False).code is None
    assert "consent.rejected" in events(hub)


def test_an_unanswered_request_expires(hub: Services, clock: MovableClock, person: int) -> None:
    add_nav(hub.database)
    add_consumer(hub.database)
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    clock.advance(hours=2)
    with pytest.raises(DomainError) as error:
        service.answer(hub, request_id, person, accept=True)
    assert error.value.code is Code.REQUEST_EXPIRED


def test_another_person_cannot_answer(hub: Services, person: int) -> None:
    add_nav(hub.database)
    add_consumer(hub.database)
    other = add_end_user(hub.database, fnr(6, 6, 81))
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    with pytest.raises(DomainError) as error:
        service.open_request(hub, request_id, other)
    assert error.value.code is Code.REQUEST_NOT_YOURS


def test_no_token_after_valid_to_nor_after_withdrawal(
    hub: Services, clock: MovableClock, person: int
) -> None:
    add_nav(hub.database)
    consumer = add_consumer(hub.database, webhook_url="https://forsikring.example.no/hooks")
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    code = service.answer(hub, request_id, person, accept=True).code
    assert code is not None
    consent_id = run_async(service.exchange_code(hub, consumer.party, {"code": code}))["consent_id"]
    details = {"type": "urn:altinn:consent", "id": consent_id}
    assert run_async(service.fresh_token(hub, consumer.party, details))["consent_id"] == consent_id
    clock.advance(days=31)
    with pytest.raises(DomainError) as error:
        run_async(service.fresh_token(hub, consumer.party, details))
    assert error.value.code is Code.CONSENT_GRANT_INVALID
    # An ended consent cannot be withdrawn, and is not offered for it.
    with pytest.raises(DomainError) as error:
        service.withdraw(hub, consent_id, person)
    assert error.value.code is Code.CONSENT_NOT_FOUND
    clock.advance(days=-31)
    service.withdraw(hub, consent_id, person)
    assert "consent.revoked" in events(hub)
    with pytest.raises(DomainError):
        run_async(service.fresh_token(hub, consumer.party, details))


def test_another_consumer_cannot_use_the_code_or_the_consent(hub: Services, person: int) -> None:
    add_nav(hub.database)
    consumer = add_consumer(hub.database)
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    code = service.answer(hub, request_id, person, accept=True).code
    assert code is not None
    nav, _ = add_nav(hub.database, code="5253_1")
    with pytest.raises(DomainError) as error:
        run_async(service.exchange_code(hub, nav.party, {"code": code}))
    assert error.value.code is Code.CONSENT_GRANT_INVALID
    # The rightful consumer still can.
    assert run_async(service.exchange_code(hub, consumer.party, {"code": code}))["access_token"]


def test_consents_past_valid_to_expire_once_and_the_consumer_is_told(
    hub: Services, clock: MovableClock, person: int
) -> None:
    add_nav(hub.database)
    consumer = add_consumer(hub.database, webhook_url="https://forsikring.example.no/hooks")
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    code = service.answer(hub, request_id, person, accept=True).code
    assert code is not None
    run_async(service.exchange_code(hub, consumer.party, {"code": code}))
    assert service.expire_due(hub) == 0
    clock.advance(days=31)
    background = EventLoopThread()
    try:
        report = background.run(Worker(hub, due_jobs=consent.DUE_WORK).due_work())
    finally:
        background.close()
    assert report["expired_consents"] == 1
    assert service.expire_due(hub) == 0
    assert events(hub).count("consent.expired") == 1


def test_two_exchanges_of_one_code_racing_give_one_token_and_revoke_the_consent(
    hub: Services, person: int
) -> None:
    add_nav(hub.database)
    consumer = add_consumer(hub.database)
    request_id = service.create_request(hub, service.resolve_request(hub, pairs(hub)))
    service.open_request(hub, request_id, person)
    code = service.answer(hub, request_id, person, accept=True).code
    assert code is not None

    def exchange() -> str:
        try:
            return str(
                run_async(service.exchange_code(hub, consumer.party, {"code": code}))["consent_id"]
            )
        except DomainError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(lambda _: exchange(), range(2)))
    assert outcomes.count("CH4304") == 1
    consent_id = next(outcome for outcome in outcomes if outcome != "CH4304")
    # Whichever came second revoked what the first produced (RFC 6749 §4.1.2).
    with pytest.raises(DomainError):
        run_async(
            service.fresh_token(
                hub, consumer.party, {"type": "urn:altinn:consent", "id": consent_id}
            )
        )
