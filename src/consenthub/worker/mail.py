"""Sending one mail over SMTP (aiosmtplib), with the ``CONSENTHUB_SMTP_*`` settings: a
connection of its own per mail (security none, STARTTLS or implicit TLS; a login when
configured), closed after it, the whole conversation within the SMTP time-out."""

from __future__ import annotations

import asyncio
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


class MailSender:
    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._timeout = settings.smtp_timeout_seconds

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> MailDelivery:
        """Send ``message`` from the envelope ``sender`` to ``recipient``; what the server
        answered, or why no answer came."""
        try:
            # The whole conversation, not each step: a send ends well inside the lease.
            async with asyncio.timeout(self._timeout):
                await aiosmtplib.send(
                    message,
                    sender=sender,
                    recipients=[recipient],
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
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            return _refused_by_server(refusal.code, refusal.message, about_the_mail=True)
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            return _refused_by_server(exc.code, exc.message, about_the_mail=True)
        except aiosmtplib.SMTPResponseException as exc:
            return _refused_by_server(exc.code, exc.message, about_the_mail=False)
        except TimeoutError:
            return MailDelivery(MailAttempt(None), f"no answer within {self._timeout:g} s")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return MailDelivery(MailAttempt(None), f"{type(exc).__name__}: {exc}"[:500])
        return MailDelivery(MailAttempt(ACCEPTED))


def _refused_by_server(code: int, message: str, *, about_the_mail: bool) -> MailDelivery:
    return MailDelivery(MailAttempt(code, about_the_mail=about_the_mail), f"SMTP {code} {message}")
