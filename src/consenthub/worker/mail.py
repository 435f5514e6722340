"""Sending mail over SMTP (aiosmtplib), with the ``CONSENTHUB_SMTP_*`` settings (security
none, STARTTLS or implicit TLS; a login when configured). A connection is kept open after
a mail was accepted and used for the next one (RFC 5321 §3.3: a session carries any
number of mail transactions), so the connection, greeting, EHLO, STARTTLS, login and
QUIT are paid once per connection, not per mail; each mail's conversation, a new
connection included, stays within the SMTP time-out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from consenthub.config import Settings
from consenthub.outbox import MailAttempt

# aiosmtplib returns only when the server answered DATA with 250 (RFC 5321 §4.1.1.4); any
# other answer is raised.
ACCEPTED = 250


@dataclass(frozen=True)
class MailDelivery:
    attempt: MailAttempt
    # The server's answer or what failed, for the delivery log; never the password.
    error: str | None = None


# A kept connection idle longer than this is closed rather than used: servers drop idle
# sessions (RFC 5321 §4.5.3.2.7 lets them after 5 minutes), and a mail sent on a dropped
# one would wait for its retry.
IDLE_SECONDS = 30.0


class MailSender:
    """Sends mail on kept connections, one mail at a time on each; as many connections as
    mails in flight. ``close`` ends them (QUIT)."""

    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._timeout = settings.smtp_timeout_seconds
        # Connections between mails, with when each went idle (the latest last).
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    async def _connection(self) -> aiosmtplib.SMTP:
        now = time.monotonic()
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected and now - since < IDLE_SECONDS:
                return smtp
            smtp.close()
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._security == "tls",
            # Exactly as configured: "none" never upgrades, even when the server offers
            # STARTTLS (aiosmtplib's default would try it).
            start_tls=self._security == "starttls",
            username=self._username,
            password=self._password.get_secret_value() if self._password else None,
            timeout=self._timeout,
        )
        await smtp.connect()
        return smtp

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for smtp, _ in idle:
            try:
                await smtp.quit(timeout=self._timeout)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> MailDelivery:
        """Send ``message`` from the envelope ``sender`` to ``recipient``; what the server
        answered, or why no answer came. After anything but an accepted mail the
        connection is closed, so the next mail starts a clean session."""
        smtp: aiosmtplib.SMTP | None = None
        try:
            # The whole conversation, not each step: a send ends well inside the lease.
            async with asyncio.timeout(self._timeout):
                smtp = await self._connection()
                await smtp.send_message(message, sender=sender, recipients=[recipient])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if smtp is not None:
                smtp.close()
            return self._failure(exc)
        except BaseException:
            if smtp is not None:
                smtp.close()
            raise
        self._idle.append((smtp, time.monotonic()))
        return MailDelivery(MailAttempt(ACCEPTED))

    def _failure(self, exc: Exception) -> MailDelivery:
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            refusal = exc.recipients[0]
            return _refused_by_server(refusal.code, refusal.message, about_the_mail=True)
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
            return _refused_by_server(exc.code, exc.message, about_the_mail=True)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return _refused_by_server(exc.code, exc.message, about_the_mail=False)
        if isinstance(exc, TimeoutError):
            return MailDelivery(MailAttempt(None), f"no answer within {self._timeout:g} s")
        return MailDelivery(MailAttempt(None), f"{type(exc).__name__}: {exc}"[:500])


def _refused_by_server(code: int, message: str, *, about_the_mail: bool) -> MailDelivery:
    return MailDelivery(MailAttempt(code, about_the_mail=about_the_mail), f"SMTP {code} {message}")
