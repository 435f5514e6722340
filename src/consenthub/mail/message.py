"""A mail as the hub asks for it (``Mail``), as it reads (``RenderedMail``), and as it goes
over SMTP (``compose``: an RFC 5322 message with text and HTML alternatives)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any


class MailError(ValueError):
    """This mail cannot be made (an unknown template, a context it cannot show, an
    address no mail header can carry): trying again would not help."""


@dataclass(frozen=True)
class Mail:
    """A mail to send: its template, recipient, language and what the template fills in."""

    template: str
    to_address: str
    to_name: str | None
    language: str
    context: dict[str, Any]


@dataclass(frozen=True)
class RenderedMail:
    """A mail in its recipient's language: subject, plain text and HTML."""

    language: str
    subject: str
    text: str
    html: str


def message_id_header(message_id: str) -> str:
    """The Message-ID (RFC 5322 §3.6.4) of the outbox message ``msg_…``: the same on every
    attempt, so a mail sent twice is recognisably one."""
    return f"<{message_id}@consenthub>"


def recipient(mail: Mail) -> Address:
    """The recipient as a To header carries it; a name's line breaks and runs of space
    become single spaces (a name is for display only)."""
    name = " ".join((mail.to_name or "").split())
    try:
        return Address(display_name=name, addr_spec=mail.to_address)
    except (ValueError, HeaderParseError) as exc:
        raise MailError(f"not a mail address a message can be sent to: {exc}") from None


def compose(
    mail: Mail, rendered: RenderedMail, *, message_id: str, sender: str, date: dt.datetime
) -> EmailMessage:
    """The message to send: From, To, Subject, Date, Message-ID, and the text with the
    HTML as its alternative (RFC 2046 multipart/alternative)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient(mail)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date.astimezone(dt.UTC))
    message["Message-ID"] = message_id_header(message_id)
    # RFC 3834: no vacation or out-of-office answers to a notice nobody reads replies to.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the content: setting it clears every Content-* header.
    message["Content-Language"] = rendered.language
    return message
