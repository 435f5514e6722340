"""Mail the hub sends (SPEC §6): what a mail is, how it reads in its recipient's language,
and the message that goes over SMTP; and the folder where the demo's sink keeps what it
catches. No network here: the worker sends (``worker/mail.py``)."""

from consenthub.mail.message import (
    Mail,
    MailError,
    RenderedMail,
    compose,
    message_id_header,
    recipient,
)
from consenthub.mail.render import SUBJECTS, render
from consenthub.mail.sink import CaughtMail, MailFolder

__all__ = [
    "SUBJECTS",
    "CaughtMail",
    "Mail",
    "MailError",
    "MailFolder",
    "RenderedMail",
    "compose",
    "message_id_header",
    "recipient",
    "render",
]
