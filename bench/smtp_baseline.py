"""The reminder benchmark's baseline: COUNT small messages to the SMTP server on 127.0.0.1:PORT
with aiosmtplib, a connection per message and the worker's concurrency
(``consenthub.worker.runner.MAILS_PER_CLAIM``): what SMTP and the sink cost without the
outbox, rendering and recording.

    python -m bench.smtp_baseline PORT COUNT
"""

from __future__ import annotations

import asyncio
import sys
from email.message import EmailMessage

import aiosmtplib

from consenthub.worker.runner import MAILS_PER_CLAIM


async def _send_all(port: int, count: int) -> None:
    gate = asyncio.Semaphore(MAILS_PER_CLAIM)

    async def one(n: int) -> None:
        message = EmailMessage()
        message["From"] = "bench@consenthub.invalid"
        message["To"] = f"customer{n}@bench.example.fi"
        message["Subject"] = "Muistutus"
        message["Message-ID"] = f"<baseline-{n}@consenthub>"
        message.set_content("Muistutus: valtuutuspyyntö odottaa vastaustasi.")
        async with gate:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port, start_tls=False)

    await asyncio.gather(*(one(n) for n in range(count)))


def main() -> None:
    asyncio.run(_send_all(int(sys.argv[1]), int(sys.argv[2])))


if __name__ == "__main__":
    main()
