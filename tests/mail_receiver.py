"""A real SMTP server for the tests: aiosmtpd on a free loopback port, in a thread. It keeps
every message it accepts, parsed, and answers as the test tells it to (defer with a
4xx, refuse with a 5xx, at MAIL FROM, RCPT TO or DATA)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.harness import free_port

Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True)
class Received:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())


@dataclass
class MailReceiver:
    """Accepts every message with 250, after answering the planned replies first."""

    planned: deque[tuple[Stage, str]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    # Every reply it gave at DATA, planned or 250, in order.
    answered: list[str] = field(default_factory=list)
    # The client's address and port of each accepted message: one per SMTP connection.
    peers: list[object] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, stage: Stage, reply: str) -> None:
        """The next time a client reaches ``stage``, answer ``reply`` (e.g. "451 4.3.0
        Try again later") instead of going on."""
        self.planned.append((stage, reply))

    def _planned(self, stage: Stage) -> str | None:
        with self.lock:
            if self.planned and self.planned[0][0] == stage:
                return self.planned.popleft()[1]
        return None

    # aiosmtpd calls the hook of each SMTP command by the command's name.
    async def handle_MAIL(
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        refusal = self._planned("MAIL")
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _options: list[str],
    ) -> str:
        refusal = self._planned("RCPT")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._planned("DATA")
        with self.lock:
            if reply is None:
                reply = "250 Message accepted for delivery"
                message = BytesParser(policy=policy.default).parsebytes(
                    envelope.original_content or b""
                )
                assert isinstance(message, EmailMessage)
                self.received.append(
                    Received(envelope.mail_from or "", list(envelope.rcpt_tos), message)
                )
                self.peers.append(session.peer)
            self.answered.append(reply)
        return reply


@contextmanager
def smtp_server(receiver: MailReceiver) -> Iterator[int]:
    """``receiver`` listening on a free loopback port, which it yields."""
    port = free_port()
    controller = Controller(receiver, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
