"""The webhook benchmark's baseline: the same POSTs as the worker's, without the outbox.

One process (pinned where the worker runs), ``asyncio.run`` as ``consenthub worker``,
one ``aiohttp.ClientSession`` with the worker's settings (no redirects, its connection
limits and timeout; the worker's HTTP client since the seventh session, httpx before).
``--parties`` chains run side by side, each sending its ``--per-party`` POSTs one after
the other, as the worker delivers a party's messages in order with up to
``PARTIES_PER_CLAIM`` parties at once. Each body has the shape and size of a
``grant.started`` event and each request the worker's headers (the signature a fixed
string of the same length: no signing, no database, no claims, no bookkeeping). What
remains is what the network, aiohttp and the receiver cost.

    python -m bench.webhook_baseline --url http://127.0.0.1:8200/plain --parties 50 \
        --per-party 40
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import sys
import time
from typing import Any

import aiohttp
import orjson

from consenthub.worker.delivery import CONNECTIONS, CONNECTIONS_PER_ORIGIN, USER_AGENT

# A Standard Webhooks signature: "v1," and a base64 HMAC-SHA256 (44 characters).
SIGNATURE = "v1," + "A" * 43 + "="


def event_data(grant_id: int, sequence: int) -> dict[str, Any]:
    """A ``grant.started`` event's data as consenthub.grants.store writes it, and the
    event's place in its party's order; the worker's backlog carries the same."""
    return {"grantId": grant_id, "meteringPointId": "707057500000000000", "scope": "Full",
            "validFrom": "2025-01-01", "validTo": None, "accessRequestId": None,
            "sequence": sequence}


def payload(grant_id: int, sequence: int) -> dict[str, Any]:
    """The body the worker sends for such an event (see consenthub.outbox.store)."""
    return {
        "type": "grant.started",
        "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": event_data(grant_id, sequence),
    }


async def chain(client: aiohttp.ClientSession, url: str, party: int, per_party: int) -> int:
    """One party's POSTs in order; returns how many were not answered 2xx."""
    failures = 0
    for sequence in range(per_party):
        body = orjson.dumps(payload(party * per_party + sequence, sequence)).decode()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": "msg_" + secrets.token_hex(16),
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": SIGNATURE,
        }
        async with client.post(f"{url}/{party}", data=body.encode(), headers=headers,
                               allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                failures += 1
    return failures


async def run(url: str, parties: int, per_party: int) -> int:
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=CONNECTIONS_PER_ORIGIN)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10.0), trust_env=False,
        auto_decompress=False,
    ) as client:
        failures = await asyncio.gather(
            *(chain(client, url, party, per_party) for party in range(parties)))
    return sum(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--parties", type=int, required=True)
    parser.add_argument("--per-party", type=int, required=True)
    args = parser.parse_args()
    failures = asyncio.run(run(args.url, args.parties, args.per_party))
    if failures:
        print(f"{failures} POSTs were not answered 2xx", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
