"""``python -m consenthub.demo_provider --port P [--host H] [--user-claims JSON]...``: the
demo's login provider (see ``consenthub.demo_provider``), with the options of
``python -m oidc_provider_mock`` the demo and the tests use."""

from __future__ import annotations

import argparse
import json
import os

import oidc_provider_mock
import uvicorn

from consenthub.demo_provider import provider_app


def parse_user(claims_json: str) -> oidc_provider_mock.User:
    """A ``--user-claims`` value: a JSON object with ``sub`` and the user's claims."""
    claims = json.loads(claims_json)
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise argparse.ArgumentTypeError('a JSON object with a "sub" string')
    sub = claims.pop("sub")
    return oidc_provider_mock.User(sub=sub, claims=claims)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m consenthub.demo_provider")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user-claims", type=parse_user, action="append", default=[])
    options = parser.parse_args()
    # The mock's own command sets this too: the demo's provider is plain HTTP on loopback.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    uvicorn.run(
        provider_app(options.user_claims),
        interface="wsgi",
        host=options.host,
        port=options.port,
        log_config=None,
    )


if __name__ == "__main__":
    main()
