"""Sending one webhook (Standard Webhooks): signed, never redirected, never to a private
address unless configured, with a timeout per attempt."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from standardwebhooks import Webhook

from consenthub import outbox
from consenthub.outbox import Attempt, OutboxEntry

USER_AGENT = "consenthub-webhooks/1"


@dataclass(frozen=True)
class Delivery:
    attempt: Attempt
    # Why it failed, for the delivery log (never the body: it is the party's data).
    error: str | None = None


def signature(secrets: Sequence[str], message_id: str, sent_at: dt.datetime, body: str) -> str:
    """``webhook-signature``: one ``v1,…`` per secret that signs now, space-separated, so a
    receiver verifies with either secret during a rotation."""
    return " ".join(Webhook(secret).sign(message_id, sent_at, body) for secret in secrets)


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


# Deliveries in flight to one endpoint origin (and its kept-alive connections). httpx
# spends per request on every connection of its pool and every request waiting for one:
# a few per origin deliver the most (docs/performance.md, the webhook benchmark).
CONNECTIONS_PER_ORIGIN = 4
# Origins whose clients are kept; the one unused longest is closed past this.
KEPT_ORIGINS = 256


@dataclass(frozen=True)
class _Vetted:
    # None: let the HTTP client resolve the host (private addresses allowed).
    address: str | None
    refused: str | None


Resolve = Callable[[str, int], Awaitable[list[tuple[Any, ...]]]]


async def _system_resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


@dataclass
class _Origin:
    client: httpx.AsyncClient
    in_flight: asyncio.Semaphore


class WebhookSender:
    """One small HTTP client per endpoint origin (connections kept alive) for the worker's
    lifetime; a few deliveries in flight to each origin, origins side by side."""

    def __init__(
        self, *, timeout: float, allow_private: bool, resolve: Resolve = _system_resolve
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._timeout = timeout
        self._origins: OrderedDict[str, _Origin] = OrderedDict()

    async def close(self) -> None:
        for origin in self._origins.values():
            await origin.client.aclose()
        self._origins.clear()

    async def _origin(self, url: str) -> _Origin:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._origins.get(key)
        if found is None:
            found = _Origin(
                httpx.AsyncClient(
                    follow_redirects=False,
                    timeout=self._timeout,
                    limits=httpx.Limits(
                        max_connections=CONNECTIONS_PER_ORIGIN,
                        max_keepalive_connections=CONNECTIONS_PER_ORIGIN,
                    ),
                ),
                asyncio.Semaphore(CONNECTIONS_PER_ORIGIN),
            )
            self._origins[key] = found
            if len(self._origins) > KEPT_ORIGINS:
                _, oldest = self._origins.popitem(last=False)
                await oldest.client.aclose()
        self._origins.move_to_end(key)
        return found

    async def _vetted_address(self, url: str) -> _Vetted:
        """The address to connect to for ``url``. A webhook URL is the party's to choose,
        so without ``CONSENTHUB_WEBHOOK_ALLOW_PRIVATE`` it may not reach the hub's own
        network (loopback, private, link-local and other non-global addresses); the
        address vetted is the one connected to, so a name that resolves again to another
        address between the check and the connection (DNS rebinding) gains nothing."""
        if self._allow_private:
            return _Vetted(address=None, refused=None)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await self._resolve(host, port)
        except OSError as exc:
            return _Vetted(None, f"cannot resolve {host}: {exc.strerror or exc}")
        addresses = [str(info[4][0]) for info in infos]
        refused = sorted({address for address in addresses if _forbidden(address)})
        if refused:
            return _Vetted(None, f"{host} resolves to a non-public address ({', '.join(refused)})")
        if not addresses:
            return _Vetted(None, f"cannot resolve {host}: no address")
        return _Vetted(addresses[0], None)

    async def send(self, url: str, message: OutboxEntry, secrets: Sequence[str]) -> Delivery:
        if not secrets:
            return Delivery(Attempt(None), "the party has no webhook secret")
        vetted = await self._vetted_address(url)
        if vetted.refused:
            return Delivery(Attempt(None), vetted.refused)
        body = orjson.dumps(message.payload).decode()
        # The signature's timestamp is the moment of sending, by the wall clock the
        # receiver checks it against (Standard Webhooks: within five minutes).
        sent_at = dt.datetime.fromtimestamp(int(time.time()), dt.UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature(secrets, message.message_id, sent_at, body),
        }
        target = httpx.URL(url)
        extensions: dict[str, str] = {}
        if vetted.address is not None:
            # Connect to the vetted address; Host and, for https, the TLS server name (and
            # so the certificate check) stay the URL's host.
            headers["host"] = target.netloc.decode("ascii")
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
            target = target.copy_with(host=vetted.address)
        origin = await self._origin(url)
        try:
            async with origin.in_flight:
                response = await origin.client.post(
                    target, content=body, headers=headers, extensions=extensions
                )
        except httpx.HTTPError as exc:
            return Delivery(Attempt(None), f"{type(exc).__name__}: {exc}"[:500])
        retry_after = outbox.parse_retry_after(
            response.headers.get("retry-after"), dt.datetime.now(dt.UTC)
        )
        error = None if response.is_success else f"HTTP {response.status_code}"
        if response.is_redirect:
            error = f"HTTP {response.status_code}: redirects are not followed"
        return Delivery(Attempt(response.status_code, retry_after), error)
