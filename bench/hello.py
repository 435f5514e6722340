"""The baseline server: a hello-world JSON endpoint on consenthub's stack.

Same FastAPI, same orjson response class, and the same ``uvicorn.run`` call
and logging set-up as ``consenthub serve`` (one worker), so the difference to
the token endpoint is the token service's own work.

    python -m bench.hello --port 8100
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from consenthub.observability import configure_logging
from consenthub.web.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(title="hello", default_response_class=JSONResponse)

    @app.api_route("/hello", methods=["GET", "POST"])
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    configure_logging(args.log_level)
    # The arguments of consenthub.cli.main.serve, with this app's factory.
    uvicorn.run(
        "bench.hello:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
