"""Two workers of one hub delivering at once, as two processes would (each its own name)."""

from __future__ import annotations

import asyncio

from consenthub.services import Services
from consenthub.worker import Worker
from tests.harness import EventLoopThread


def deliver_with_two_workers(background: EventLoopThread, hub: Services) -> None:
    first, second = Worker(hub, name="first"), Worker(hub, name="second")

    async def both() -> None:
        try:
            await asyncio.gather(first.deliver_due(), second.deliver_due())
        finally:
            await first.close()
            await second.close()

    background.run(both())
