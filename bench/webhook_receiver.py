"""The webhook benchmark's receiver: a third party's endpoint on loopback, in its own process.

A Starlette app on the same ``uvicorn.run`` arguments and logging set-up as
``consenthub serve`` (one worker). Every POST is answered 204 and recorded: its
``webhook-id``, the arrival time (``time.time()``, the clock the committer in the
harness uses too), the party (from the path) and the event's ``grantId`` or
``sequence``. On ``/hook/<party>`` (the worker's deliveries) one delivery in
``--verify-every`` is verified with the ``standardwebhooks`` package against the
party's secret, as a third party would, so the benchmark is known to measure real,
signed deliveries; ``/plain/<party>`` (the baseline's POSTs, unsigned) is only
recorded. The harness reads the counts and arrivals, and resets them, over HTTP.

    python -m bench.webhook_receiver --port 8200 --verify-every 10
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consenthub.observability import configure_logging


class Receiver:
    def __init__(self, verify_every: int) -> None:
        self.verify_every = verify_every
        self.secrets: dict[str, Webhook] = {}
        self.reset()

    def reset(self) -> None:
        # webhook-id -> [arrival, party, grantId or sequence]; a repeated id counts apart.
        self.arrivals: dict[str, list[Any]] = {}
        self.repeated = 0
        self.verified = 0
        self.failed: list[str] = []

    def _record(self, party: str, headers: Any, body: bytes, *, sampled: bool) -> None:
        arrival = time.time()
        webhook_id = headers["webhook-id"]
        data = orjson.loads(body)["data"]
        if webhook_id in self.arrivals:
            self.repeated += 1
        else:
            self.arrivals[webhook_id] = [arrival, party, data.get("grantId", data.get("sequence"))]
        count = len(self.arrivals) + self.repeated
        if sampled and (count - 1) % self.verify_every == 0:
            webhook = self.secrets.get(party)
            try:
                if webhook is None:
                    raise WebhookVerificationError(f"no secret for party {party}")
                webhook.verify(body, dict(headers))
            except WebhookVerificationError as exc:
                self.failed.append(f"{webhook_id} (party {party}): {exc}")
            else:
                self.verified += 1

    async def hook(self, request: Request) -> Response:
        self._record(request.path_params["party"], request.headers, await request.body(),
                     sampled=True)
        return Response(status_code=204)

    async def plain(self, request: Request) -> Response:
        self._record(request.path_params["party"], request.headers, await request.body(),
                     sampled=False)
        return Response(status_code=204)

    async def set_secrets(self, request: Request) -> Response:
        self.secrets = {party: Webhook(secret)
                        for party, secret in orjson.loads(await request.body()).items()}
        return Response(status_code=204)

    async def clear(self, _request: Request) -> Response:
        self.reset()
        return Response(status_code=204)

    def _counts(self) -> dict[str, Any]:
        return {"received": len(self.arrivals), "repeated": self.repeated,
                "verified": self.verified, "failed": self.failed[:10],
                "failed_count": len(self.failed)}

    async def counts(self, _request: Request) -> Response:
        return Response(orjson.dumps(self._counts()), media_type="application/json")

    async def arrivals_json(self, _request: Request) -> Response:
        return Response(orjson.dumps(self._counts() | {"arrivals": self.arrivals}),
                        media_type="application/json")

    async def healthz(self, _request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")


def create_app(verify_every: int = 10) -> Starlette:
    receiver = Receiver(verify_every)
    return Starlette(routes=[
        Route("/hook/{party}", receiver.hook, methods=["POST"]),
        Route("/plain/{party}", receiver.plain, methods=["POST"]),
        Route("/secrets", receiver.set_secrets, methods=["PUT"]),
        Route("/reset", receiver.clear, methods=["POST"]),
        Route("/counts", receiver.counts, methods=["GET"]),
        Route("/arrivals", receiver.arrivals_json, methods=["GET"]),
        Route("/healthz", receiver.healthz, methods=["GET"]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--verify-every", type=int, default=10)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    configure_logging(args.log_level)
    # The arguments of consenthub.cli.main.serve, with this app.
    uvicorn.run(
        create_app(args.verify_every),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
