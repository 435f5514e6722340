"""consenthub under test: a migrated database, bench parties, and ``consenthub serve``."""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from bench import ids
from bench.procs import Server, free_port
from consenthub.registry import store as registry
from consenthub.signing import keys
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.migrate import upgrade

LOG_LEVEL = "WARNING"
CONSENTHUB = Path(sys.executable).with_name("consenthub")


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def migrate(url: str, secret_key: str) -> Database:
    """Schema at head and a signing key, as ``consenthub db upgrade`` leaves them."""
    database = Database(url)
    upgrade(database, secret_key=secret_key.encode())
    with database.write() as conn:
        keys.ensure_key(conn, secret_key.encode())
    return database


# The columns of ``end_users`` that hold a national id, in ``sealed_id``'s order.
SEALED_ID_COLUMNS = ("national_id_hash", "national_id_key_id", "national_id_cipher")


def id_cipher(secret_key: str) -> NationalIdCipher:
    """The hub's national id cipher under ``secret_key``, as ``consenthub serve`` builds it."""
    return NationalIdCipher(secret_key.encode())


def sealed_id(cipher: NationalIdCipher, national_id: str) -> tuple[str, int, bytes]:
    """A national id as ``end_users`` stores it (``SEALED_ID_COLUMNS``)."""
    sealed = cipher.seal(national_id)
    return sealed.lookup_hash, sealed.key_id, sealed.ciphertext


def add_parties(database: Database, secret_key: str, count: int) -> list[registry.NewCredentials]:
    """``count`` third parties with GLNs, each with a fresh client secret."""
    with database.write() as conn:
        return [
            registry.add_party(conn, secret_key.encode(), name=f"Bench party {n}",
                               roles=["third_party"], gln=ids.gln(900 + n), actor="bench")
            for n in range(count)
        ]


def serve(name: str, url: str, secret_key: str, log_dir: Path,
          extra_env: dict[str, str] | None = None) -> Server:
    """``consenthub serve`` with one worker on a free loopback port, ready to take load;
    ``extra_env`` adds settings (``CONSENTHUB_*``), e.g. the end-user login's provider."""
    port = free_port()
    env = {
        **os.environ,
        "CONSENTHUB_DATABASE_URL": url,
        "CONSENTHUB_SECRET_KEY": secret_key,
        "CONSENTHUB_BASE_URL": f"http://127.0.0.1:{port}",
        "CONSENTHUB_LOG_LEVEL": LOG_LEVEL,
        **(extra_env or {}),
    }
    argv = [str(CONSENTHUB), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = Server(name, argv, env, port, log_dir / f"{name}.log")
    try:
        server.wait_ready("/readyz")
    except Exception:
        server.stop()
        raise
    return server


def token_form(credentials: registry.NewCredentials, scope: str | None = None) -> str:
    """A client-credentials token request; without ``scope``, every scope the party's roles
    allow (RFC 6749 §3.3)."""
    return urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_id": credentials.party.client_id,
        "client_secret": credentials.client_secret,
        **({"scope": scope} if scope else {}),
    })


def post_form(url: str, body: str) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=body.encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        document: dict[str, object] = json.loads(reply.read())
    return document


def get_json(url: str, headers: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        document: dict[str, object] = json.loads(reply.read())
    return document


def access_token(server: Server, credentials: registry.NewCredentials,
                 scope: str | None = None) -> str:
    reply = post_form(server.base_url + "/sts/Token", token_form(credentials, scope))
    return str(reply["access_token"])


