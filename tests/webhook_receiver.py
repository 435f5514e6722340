"""A real webhook receiver for the tests: an HTTP server on loopback that verifies every
delivery with the ``standardwebhooks`` package, as a third party's would, and answers
as the test tells it to (fail, redirect, go away, ask to wait)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.harness import ThreadedServer


@dataclass(frozen=True)
class Received:
    webhook_id: str
    type: str
    data: dict[str, Any]
    verified: bool
    answered: int
    host: str = ""
    # The sender's port: one per connection it opened.
    peer_port: int = 0


@dataclass
class Receiver:
    """Records every delivery; answers the planned statuses first, then 204."""

    # The parties' secrets: a delivery verifies when any of them signed it.
    secrets: list[str] = field(default_factory=list)
    planned: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, status: int, **headers: str) -> None:
        self.planned.append((status, headers))

    def accepted(self) -> list[Received]:
        """Deliveries answered 2xx, once per ``webhook-id`` (as a receiver deduplicates)."""
        seen: dict[str, Received] = {}
        for item in self.received:
            if 200 <= item.answered < 300 and item.webhook_id not in seen:
                seen[item.webhook_id] = item
        return list(seen.values())

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        verified = any(
            self._verifies(secret, body, dict(request.headers)) for secret in self.secrets
        )
        payload = json.loads(body)
        with self.lock:
            status, headers = self.planned.popleft() if self.planned else (204, {})
            self.received.append(
                Received(
                    request.headers["webhook-id"],
                    payload["type"],
                    payload["data"],
                    verified,
                    status,
                    request.headers.get("host", ""),
                    request.client.port if request.client else 0,
                )
            )
        return Response(status_code=status, headers=headers)

    @staticmethod
    def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def elsewhere(self, _request: Request) -> Response:
        raise AssertionError("a redirect was followed")

    def server(self) -> ThreadedServer:
        app = Starlette(
            routes=[
                Route("/hook", self.endpoint, methods=["POST"]),
                Route("/elsewhere", self.elsewhere, methods=["POST", "GET"]),
            ]
        )
        return ThreadedServer(app)
