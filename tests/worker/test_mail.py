"""Mail sent by the worker through the outbox, to a real SMTP server on loopback: due
mail once with its Message-ID, later mail only when the clock says so, voided mail
never; deferrals retried on the schedule, refusals failed; a worker that dies leaves
its mail to another (at least once, the same Message-ID); two workers send each once;
and mail never holds up a party's webhooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Row, select

from consenthub import outbox, registry
from consenthub.authorization_requests import service as authorization_requests
from consenthub.authorization_requests.schemas import parse_request
from consenthub.config import Settings
from consenthub.domain.access import EventType
from consenthub.mail import Mail, compose, message_id_header, recipient, render
from consenthub.outbox import Event, MailAttempt, Verdict, settle_mail
from consenthub.outbox.rules import RETRY_DELAYS
from consenthub.services import Services, build_services
from consenthub.store.database import Database
from consenthub.store.tables import OutboxMessage
from consenthub.worker import Worker
from consenthub.worker.mail import MailSender
from consenthub.worker.runner import MAILS_PER_CLAIM
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_end_user, add_metering_point, add_party, add_supply, fnr, gsrn
from tests.harness import EventLoopThread, MovableClock, free_port
from tests.mail_receiver import MailReceiver, smtp_server
from tests.webhook_receiver import Receiver
from tests.worker.two_workers import deliver_with_two_workers

NOTICE = "mail.authorization_request.notice"
REMINDER = "mail.authorization_request.reminder"
REQUEST = "access_request:7"
LINK = "http://127.0.0.1:8000/minside/requests/7"
HETU = "131052-308T"


@pytest.fixture
def smtp() -> Iterator[tuple[MailReceiver, int]]:
    receiver = MailReceiver()
    with smtp_server(receiver) as port:
        yield receiver, port


@pytest.fixture
def receiver(smtp: tuple[MailReceiver, int]) -> MailReceiver:
    return smtp[0]


@pytest.fixture
def hub(
    settings: Settings, db: Database, clock: MovableClock, smtp: tuple[MailReceiver, int]
) -> Services:
    """The services of a worker whose mail goes to the test's SMTP server."""
    return build_services(
        settings.model_copy(update={"smtp_port": smtp[1], "webhook_allow_private": True}),
        db,
        clock=clock,
    )


@pytest.fixture
def background() -> Iterator[EventLoopThread]:
    loop = EventLoopThread()
    yield loop
    loop.close()


def notice(to: str = "kari@example.no", **context: object) -> Mail:
    return Mail(
        "authorization_request_notice",
        to,
        "Kari Nordmann",
        "nb",
        {
            "seller_name": "Strømselskapet AS",
            "customer_name": "Kari Nordmann",
            "accounting_points": ["707057500000000018"],
            "valid_from": "2026-06-01",
            "valid_to": None,
            "reason": None,
            "description": None,
            "link": LINK,
            "expires_at": None,
        }
        | context,
    )


def enqueue(
    db: Database,
    hub: Services,
    mail: Mail,
    *,
    event_type: str = NOTICE,
    due_in: dt.timedelta = dt.timedelta(),
    party_id: int | None = None,
) -> str:
    with db.write() as conn:
        return outbox.enqueue_mail(
            conn,
            mail,
            event_type=event_type,
            due_at=hub.now() + due_in,
            now=hub.now(),
            subject=REQUEST,
            party_id=party_id,
        )


def mail_rows(db: Database) -> list[Row[Any]]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(OutboxMessage)
                .where(OutboxMessage.channel == outbox.MAIL)
                .order_by(OutboxMessage.id)
            ).all()
        )


def deliver(background: EventLoopThread, worker: Worker) -> None:
    background.run(worker.deliver_due())


def test_a_due_notice_is_received_once_with_its_message_id(
    db: Database, hub: Services, receiver: MailReceiver, background: EventLoopThread
) -> None:
    message_id = enqueue(db, hub, notice(description=f"kunde {fnr(15, 8, 85)}"))
    worker = Worker(hub)
    try:
        report = background.run(worker.deliver_due())
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert (report.mail_sent, report.mail_retried, report.mail_failed) == (1, 0, 0)
    [received] = receiver.received
    assert received.message_id == message_id
    assert message_id.startswith("<msg_")
    assert message_id.endswith("@consenthub>")
    assert received.envelope_from == "no-reply@consenthub.invalid"
    assert received.envelope_to == ["kari@example.no"]
    message = received.message
    assert message["From"] == "consenthub <no-reply@consenthub.invalid>"
    assert message["To"] == "Kari Nordmann <kari@example.no>"
    assert message["Subject"] == "Strømselskapet AS ber om tilgang til strømdataene dine"
    assert message["Date"] is not None
    assert LINK in received.part("plain")
    assert LINK in received.part("html")
    assert fnr(15, 8, 85) not in message.as_string()
    [row] = mail_rows(db)
    assert row.delivered_at is not None
    assert (row.attempts, row.last_status, row.failed_at) == (1, 250, None)


def test_mails_share_kept_connections(
    db: Database, hub: Services, receiver: MailReceiver, background: EventLoopThread
) -> None:
    """Several mails go over one SMTP session (RFC 5321 §3.3), each with its own
    Message-ID: at most as many connections as mails in flight."""
    message_ids = [enqueue(db, hub, notice(to=f"person{n}@example.no")) for n in range(25)]
    worker = Worker(hub)
    try:
        report = background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert report.mail_sent == 25
    assert sorted(item.message_id for item in receiver.received) == sorted(message_ids)
    assert len(set(receiver.peers)) <= MAILS_PER_CLAIM
    assert all(row.delivered_at is not None for row in mail_rows(db))


def test_a_mail_due_later_waits_for_the_clock(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    message_id = enqueue(db, hub, notice(), event_type=REMINDER, due_in=dt.timedelta(days=3))
    worker = Worker(hub)
    try:
        deliver(background, worker)
        clock.advance(days=2, hours=23)
        deliver(background, worker)
        assert receiver.received == []
        clock.advance(hours=1)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert [item.message_id for item in receiver.received] == [message_id]


def test_a_voided_reminder_is_never_sent(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    sent = enqueue(db, hub, notice())
    enqueue(db, hub, notice(), event_type=REMINDER, due_in=dt.timedelta(days=3))
    worker = Worker(hub)
    try:
        deliver(background, worker)
        # The request is answered: its reminder is withdrawn, not its notice (sent).
        with db.write() as conn:
            voided = outbox.void(conn, REQUEST, event_types=[REMINDER], now=hub.now())
        clock.advance(days=4)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert voided == 1
    assert [item.message_id for item in receiver.received] == [sent]
    reminder = mail_rows(db)[1]
    assert reminder.voided_at is not None
    assert (reminder.delivered_at, reminder.attempts) == (None, 0)


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_deferral_is_retried_on_the_schedule_and_received_once(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
    stage: str,
) -> None:
    receiver.answer_next(stage, "451 4.3.0 Try again later")  # type: ignore[arg-type]
    message_id = enqueue(db, hub, notice())
    worker = Worker(hub, rand=random.Random(7))
    try:
        report = background.run(worker.deliver_due())
        [row] = mail_rows(db)
        retry_in = row.due_at.replace(tzinfo=dt.UTC) - hub.now()
        assert report.mail_retried == 1
        assert (row.attempts, row.last_status, row.delivered_at) == (1, 451, None)
        assert "451" in (row.last_error or "")
        assert RETRY_DELAYS[0] * 0.85 <= retry_in <= RETRY_DELAYS[0] * 1.1
        # Not due yet: nothing is sent, however often the worker looks.
        deliver(background, worker)
        assert receiver.received == []
        clock.advance(seconds=6)
        deliver(background, worker)
        clock.advance(hours=1)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert [item.message_id for item in receiver.received] == [message_id]
    [row] = mail_rows(db)
    assert row.delivered_at is not None
    assert (row.attempts, row.last_status) == (2, 250)


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_permanent_refusal_fails_the_mail(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
    stage: str,
) -> None:
    receiver.answer_next(stage, "550 5.1.1 No such mailbox")  # type: ignore[arg-type]
    enqueue(db, hub, notice())
    worker = Worker(hub)
    try:
        report = background.run(worker.deliver_due())
        clock.advance(days=2)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert report.mail_failed == 1
    assert receiver.received == []
    [row] = mail_rows(db)
    assert row.failed_at is not None
    assert (row.attempts, row.last_status, row.delivered_at) == (1, 550, None)
    assert "No such mailbox" in (row.last_error or "")


def test_a_refused_sender_is_the_hubs_configuration_and_is_retried(
    db: Database, hub: Services, receiver: MailReceiver, background: EventLoopThread
) -> None:
    """A 5xx to MAIL FROM is about the hub, not the recipient: an operator can mend it."""
    receiver.answer_next("MAIL", "553 5.7.1 Sender address rejected")
    enqueue(db, hub, notice())
    worker = Worker(hub)
    try:
        report = background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert report.mail_retried == 1
    [row] = mail_rows(db)
    assert (row.failed_at, row.last_status) == (None, 553)


def test_no_server_is_retried(
    settings: Settings, db: Database, clock: MovableClock, background: EventLoopThread
) -> None:
    nowhere = build_services(
        settings.model_copy(update={"smtp_port": free_port()}), db, clock=clock
    )
    enqueue(db, nowhere, notice())
    worker = Worker(nowhere)
    try:
        report = background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert report.mail_retried == 1
    [row] = mail_rows(db)
    assert (row.attempts, row.last_status, row.failed_at) == (1, None, None)
    assert "Connect" in (row.last_error or "")


def test_a_server_that_does_not_answer_is_given_up_on_within_the_time_out(
    settings: Settings, db: Database, clock: MovableClock, background: EventLoopThread
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        mute = settings.model_copy(update={"smtp_port": port, "smtp_timeout_seconds": 0.5})
        hub = build_services(mute, db, clock=clock)
        enqueue(db, hub, notice())
        worker = Worker(hub)
        try:
            report = background.run(worker.deliver_due())
        finally:
            background.run(worker.close())
    assert report.mail_retried == 1
    [row] = mail_rows(db)
    assert (row.attempts, row.last_status, row.delivered_at) == (1, None, None)
    assert row.last_error == "no answer within 0.5 s"


def test_a_mail_that_cannot_be_made_fails_at_once(
    db: Database, hub: Services, receiver: MailReceiver, background: EventLoopThread
) -> None:
    enqueue(db, hub, notice(to="not an address"))
    enqueue(db, hub, notice(link=None))
    worker = Worker(hub)
    try:
        report = background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert report.mail_failed == 2
    assert receiver.received == []
    first, second = mail_rows(db)
    assert first.failed_at is not None
    assert second.failed_at is not None
    assert "not a mail address" in (first.last_error or "")
    assert "link" in (second.last_error or "")


@pytest.mark.parametrize("reached_the_server", [False, True])
def test_a_worker_that_dies_after_claiming_leaves_the_mail_to_another(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
    reached_the_server: bool,
) -> None:
    """The first worker claims and dies before it records anything (after the server
    took the mail, or before): once its lease runs out another sends it, with the same
    Message-ID, so a reader's mail program recognises a second copy."""
    message_id = enqueue(db, hub, notice())
    lease = dt.timedelta(seconds=hub.settings.worker_lease_seconds)
    with db.write() as conn:
        [claimed] = outbox.claim_mail(conn, worker="dies", now=hub.now(), lease=lease, limit=10)
    if reached_the_server:
        mail = outbox.mail_of(claimed)
        message = compose(
            mail,
            render(mail, hub.settings),
            message_id=claimed.message_id,
            sender=hub.settings.mail_from,
            date=hub.now(),
        )
        delivery = background.run(
            MailSender(hub.settings).send(
                message,
                sender=hub.settings.mail_sender_address,
                recipient=recipient(mail).addr_spec,
            )
        )
        assert delivery.attempt.reply == 250
    survivor = Worker(hub, name="survivor")
    try:
        deliver(background, survivor)
        assert len(receiver.received) == int(reached_the_server)
        clock.advance(seconds=lease.total_seconds() + 1)
        deliver(background, survivor)
        deliver(background, survivor)
    finally:
        background.run(survivor.close())
    ids = [item.message_id for item in receiver.received]
    assert ids == [message_id] * (1 + int(reached_the_server))
    [row] = mail_rows(db)
    assert row.delivered_at is not None
    assert row.claimed_by == "survivor"


def test_a_mail_another_worker_holds_does_not_keep_a_worker_busy(
    settings: Settings, db: Database, clock: MovableClock, background: EventLoopThread
) -> None:
    """Due but held (or, for a webhook, waiting behind its party's retry): nothing can be
    claimed until the lease runs out, so the worker looks again after its poll interval
    instead of at once, over and over."""
    polling = build_services(
        settings.model_copy(update={"worker_poll_seconds": 0.05}), db, clock=clock
    )
    enqueue(db, polling, notice())
    with db.write() as conn:
        outbox.claim_mail(
            conn, worker="elsewhere", now=polling.now(), lease=dt.timedelta(minutes=5), limit=1
        )
    worker = Worker(polling)
    rounds = 0
    claim = worker._claim_mail

    def counted(conn: Connection) -> list[outbox.OutboxEntry]:
        nonlocal rounds
        rounds += 1
        return claim(conn)

    worker._claim_mail = counted  # type: ignore[method-assign]

    async def for_a_while() -> None:
        stop = asyncio.Event()
        running = asyncio.ensure_future(worker.run_forever(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await running
        await worker.close()

    background.run(for_a_while())
    # About 0.5 s / 0.05 s; a worker that does not wait makes hundreds of rounds.
    assert 3 <= rounds <= 20


def test_two_workers_at_once_send_each_mail_once(
    db: Database, hub: Services, receiver: MailReceiver, background: EventLoopThread
) -> None:
    sent = {enqueue(db, hub, notice(to=f"person{index}@example.no")) for index in range(30)}
    deliver_with_two_workers(background, hub)
    ids = [item.message_id for item in receiver.received]
    assert len(ids) == 30
    assert set(ids) == sent
    assert all(row.delivered_at is not None for row in mail_rows(db))


def test_mail_holds_up_no_webhook_and_is_never_one(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    """A mail about a party, another worker's lease on a mail, and the party's endpoint
    going away change nothing for the other channel."""
    webhooks = Receiver()
    with webhooks.server() as server:
        party = add_party(db, seed=4, roles=("seller",)).party
        with db.write() as conn:
            endpoint = registry.set_webhook(
                conn, TEST_SECRET_KEY.encode(), party.client_id, f"{server.url}/hook", now=hub.now()
            )
        assert endpoint.new_secret is not None
        webhooks.secrets.append(endpoint.new_secret)
        held = enqueue(db, hub, notice(to="held@example.no"))
        about_the_party = enqueue(
            db, hub, notice(), party_id=party.id, due_in=dt.timedelta(minutes=1)
        )
        with db.write() as conn:
            [claimed] = outbox.claim_mail(
                conn, worker="elsewhere", now=hub.now(), lease=dt.timedelta(hours=1), limit=1
            )
            assert message_id_header(claimed.message_id) == held
            outbox.enqueue_webhooks(
                conn, party.id, [Event(EventType.GRANT_STARTED, {"n": 1})], now=hub.now()
            )
        # The endpoint is gone: its webhooks fail, the mail about its party does not.
        webhooks.answer_next(410)
        worker = Worker(hub)
        try:
            deliver(background, worker)
            clock.advance(minutes=2)
            deliver(background, worker)
        finally:
            background.run(worker.close())
    assert [item.type for item in webhooks.received] == ["grant.started"]
    assert [item.message_id for item in receiver.received] == [about_the_party]
    assert [row.failed_at for row in mail_rows(db)] == [None, None]


def test_an_authorization_requests_notice_arrives_and_a_cancelled_ones_reminder_never(
    db: Database,
    hub: Services,
    receiver: MailReceiver,
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    """DH-831 as the seller sends it, in Swedish: the notice names the seller and the
    accounting point and links to the request; DH-851 cancels it, and the reminder
    never goes out."""
    seller = add_party(db, seed=5, name="Sähkö Oy", roles=("seller",)).party
    customer = add_end_user(db, HETU)
    add_supply(db, add_metering_point(db, 21), customer, dt.date(2020, 1, 1))
    body = {
        "customer": HETU,
        "accountingPoints": [gsrn(21)],
        "validFrom": hub.today().isoformat(),
        "recipient": {"name": "Maja Virtanen", "email": "maja@example.fi", "language": "sv"},
        "reminderAt": (hub.now() + dt.timedelta(days=3)).isoformat(),
    }
    created = authorization_requests.create(
        hub,
        authorization_requests.Seller(seller.id, seller.name),
        parse_request(orjson.dumps(body), allow_synthetic_ids=False),
    )
    worker = Worker(hub)
    try:
        deliver(background, worker)
        authorization_requests.cancel(hub, seller.id, created.request_id)
        clock.advance(days=4)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    [notice_received] = receiver.received
    message = notice_received.message
    assert message["To"] == "Maja Virtanen <maja@example.fi>"
    assert message["Subject"] == "Sähkö Oy begär åtkomst till dina elförbrukningsuppgifter"
    assert message["Content-Language"] == "sv"
    text = notice_received.part("plain")
    assert gsrn(21) in text
    assert f"{hub.settings.base_url}/minside/requests/{created.id}" in text
    assert HETU not in message.as_string()


@pytest.mark.parametrize(
    ("attempt", "attempts_before", "verdict"),
    [
        (MailAttempt(250), 0, Verdict.DELIVERED),
        (MailAttempt(451, about_the_mail=True), 0, Verdict.RETRY),
        (MailAttempt(421), 0, Verdict.RETRY),
        (MailAttempt(None), 0, Verdict.RETRY),
        (MailAttempt(550, about_the_mail=True), 0, Verdict.FAILED),
        (MailAttempt(554, about_the_mail=True), 0, Verdict.FAILED),
        (MailAttempt(535), 0, Verdict.RETRY),
        (MailAttempt(451, about_the_mail=True), len(RETRY_DELAYS), Verdict.FAILED),
        (MailAttempt(None), len(RETRY_DELAYS), Verdict.FAILED),
    ],
)
def test_the_rule_of_settling_a_mail(
    attempt: MailAttempt, attempts_before: int, verdict: Verdict
) -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    settlement = settle_mail(attempt, attempts_before, now, random.Random(1))
    assert settlement.verdict is verdict
    if verdict is Verdict.RETRY:
        assert settlement.due_at is not None
        assert settlement.due_at - now >= RETRY_DELAYS[attempts_before] * 0.9
