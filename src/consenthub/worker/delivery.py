"""Sending one webhook (Standard Webhooks): signed, never redirected, never to a private
address unless configured, with a timeout per attempt."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
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


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# Connections kept to one endpoint origin, and so deliveries in flight to it; origins
# are delivered side by side up to the worker's claim (PARTIES_PER_CLAIM parties), with
# at most CONNECTIONS open in all.
CONNECTIONS_PER_ORIGIN = 4
CONNECTIONS = 256
REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolve = Callable[[str, int], Awaitable[list[tuple[Any, ...]]]]


async def _system_resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


class _Refused(OSError):
    """A webhook host that resolves to nothing, or to an address it may not reach."""


class _VettingResolver(AbstractResolver):
    """The HTTP client's resolver. A webhook URL is the party's to choose, so without
    ``CONSENTHUB_WEBHOOK_ALLOW_PRIVATE`` it may not reach the hub's own network
    (loopback, private, link-local and other non-global addresses): a name with any
    such address is refused. The client connects only to the addresses this returns,
    so the address vetted is the one connected to, and a name that resolves again to
    another address between the check and the connection (DNS rebinding) gains
    nothing; Host and, for https, the TLS server name stay the URL's host."""

    def __init__(self, resolve: Resolve, *, allow_private: bool) -> None:
        self._resolve = resolve
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            infos = await self._resolve(host, port)
        except OSError as exc:
            raise _Refused(f"cannot resolve {host}: {exc.strerror or exc}") from exc
        if not infos:
            raise _Refused(f"cannot resolve {host}: no address")
        if not self._allow_private:
            refused = sorted({str(info[4][0]) for info in infos if _forbidden(str(info[4][0]))})
            if refused:
                raise _Refused(f"{host} resolves to a non-public address ({', '.join(refused)})")
        return [
            ResolveResult(
                hostname=host,
                host=str(sockaddr[0]),
                port=int(sockaddr[1]),
                family=family_found,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for family_found, _, proto, _, sockaddr in infos
        ]

    async def close(self) -> None:
        return None


class WebhookSender:
    """One HTTP client (aiohttp) for the worker's lifetime: connections kept alive, a few
    to each endpoint origin, origins side by side.

    aiohttp rather than httpx: about a fifth of httpx's CPU per request (its parser
    and connection pool are compiled), which is most of what a delivery costs
    (docs/performance.md, the webhook benchmark)."""

    def __init__(
        self, *, timeout: float, allow_private: bool, resolve: Resolve = _system_resolve
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, in the event loop it serves (aiohttp binds a session to it).
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=CONNECTIONS,
                limit_per_host=CONNECTIONS_PER_ORIGIN,
                resolver=_VettingResolver(self._resolve, allow_private=self._allow_private),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                # Proxies from the environment would connect past the address check.
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    def _refused_literal(self, url: str) -> str | None:
        """An IP address in the URL itself, which no resolver sees: refused as above."""
        if self._allow_private:
            return None
        address = _ip_literal(urlsplit(url).hostname or "")
        if address is None or not _forbidden(address):
            return None
        return f"{address} is a non-public address"

    async def send(self, url: str, message: OutboxEntry, secrets: Sequence[str]) -> Delivery:
        if not secrets:
            return Delivery(Attempt(None), "the party has no webhook secret")
        refused = self._refused_literal(url)
        if refused:
            return Delivery(Attempt(None), refused)
        body = orjson.dumps(message.payload)
        text = body.decode()
        # The signature's timestamp is the moment of sending, by the wall clock the
        # receiver checks it against (Standard Webhooks: within five minutes).
        sent_at = dt.datetime.fromtimestamp(int(time.time()), dt.UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature(secrets, message.message_id, sent_at, text),
        }
        try:
            # The answer's body is not read: it is not the hub's to keep. One that has
            # not fully arrived with the status closes its connection instead of
            # keeping it.
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after_header = response.headers.get("retry-after")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, _Refused):
                return Delivery(Attempt(None), str(exc.os_error))
            return Delivery(Attempt(None), f"{type(exc).__name__}: {exc}"[:500])
        except TimeoutError:
            return Delivery(Attempt(None), f"no answer within {self._timeout:g} s")
        except aiohttp.ClientError as exc:
            return Delivery(Attempt(None), f"{type(exc).__name__}: {exc}"[:500])
        retry_after = outbox.parse_retry_after(retry_after_header, dt.datetime.now(dt.UTC))
        error = None if 200 <= status < 300 else f"HTTP {status}"
        if status in REDIRECTS:
            error = f"HTTP {status}: redirects are not followed"
        return Delivery(Attempt(status, retry_after), error)
