"""The folder where the demo's SMTP sink keeps the mail it catches: one ``.eml`` file per
message, exactly as it arrived (RFC 5322), named by arrival so that the names sort in
order. Any mail program opens them; ``consenthub mail list`` reads them back."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

SUFFIX = ".eml"
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class CaughtMail:
    file: Path
    sender: str
    to: str
    subject: str
    date: str
    message_id: str
    # The first address in the plain text (the request in the portal), to follow.
    link: str | None


class MailFolder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def keep(self, raw: bytes, *, now: dt.datetime) -> Path:
        """Keep one message; written whole under a temporary name first, so a reader
        never sees half a mail."""
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"
        partial = self.path / f".{name}.partial"
        partial.write_bytes(raw)
        kept = self.path / f"{name}{SUFFIX}"
        os.replace(partial, kept)
        return kept

    def caught(self) -> list[CaughtMail]:
        """Every kept message, oldest first."""
        if not self.path.is_dir():
            return []
        return [_read(file) for file in sorted(self.path.glob(f"*{SUFFIX}"))]


def _read(file: Path) -> CaughtMail:
    with file.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    link = _LINK.search(body.get_content()) if body is not None else None
    return CaughtMail(
        file=file,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        date=str(message.get("Date", "")),
        message_id=str(message.get("Message-ID", "")),
        link=link.group(0) if link else None,
    )
