"""Token service (seed 004, SPEC §3) over real sockets."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import func, select, update

from consenthub.config import Settings
from consenthub.signing import keys as keyring
from consenthub.store.database import Database
from consenthub.store.tables import ClientSecret, Party, TokenRevocation
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_party, gln
from tests.harness import LiveServer

SEED_ERROR_FIELDS = {"code", "message", "errorCategory", "statusCode", "korrelasjonsId"}
FORM = "application/x-www-form-urlencoded"


def token_request(server: LiveServer, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/sts/Token", **kwargs)


def form_request(server: LiveServer, body: bytes, content_type: str = FORM) -> httpx.Response:
    """A token request with this exact form body, as some clients send it."""
    return token_request(server, content=body, headers={"content-type": content_type})


def credentials_form(creds: Any) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.party.client_id,
        "client_secret": creds.client_secret,
    }


def jwks_of(server: LiveServer) -> KeySet:
    return KeySet.import_key_set(httpx.get(f"{server.url}/.well-known/jwks.json").json())


def assert_seed_error(
    response: httpx.Response, status: int, oauth_error: str | None
) -> dict[str, Any]:
    assert response.status_code == status
    body = response.json()
    assert body.keys() >= SEED_ERROR_FIELDS
    assert body["statusCode"] == status
    assert uuid.UUID(body["korrelasjonsId"])
    assert body["korrelasjonsId"] == response.headers["x-correlation-id"]
    assert response.headers["cache-control"] == "no-store"
    if oauth_error:
        assert body["error"] == oauth_error
        assert body["error_description"]
    return body


def test_form_body_gives_seed_response(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    response = token_request(live_server, data=credentials_form(creds))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 1800
    assert body["token_type"] == "bearer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)


def test_json_body_accepted(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    response = token_request(live_server, json=credentials_form(creds))
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_http_basic_accepted(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    response = token_request(
        live_server,
        data={"grant_type": "client_credentials"},
        auth=(creds.party.client_id, creds.client_secret),
    )
    assert response.status_code == 200


def test_jwt_claims_header_and_jwks(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db, seed=7)
    before = int(dt.datetime.now(dt.UTC).timestamp())
    access_token = token_request(live_server, data=credentials_form(creds)).json()["access_token"]
    decoded = jwt.decode(access_token, jwks_of(live_server), algorithms=["ES256"])
    assert decoded.header["kid"]
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    settings = live_server.settings
    assert claims["iss"] == settings.token_issuer
    assert claims["aud"] == settings.token_audience
    assert claims["sub"] == claims["client_id"] == creds.party.client_id
    assert claims["gln"] == gln(7)
    assert claims["scope"].split() == ["data:read", "third-party-access"]
    assert claims["exp"] - claims["iat"] == 1800
    assert before <= claims["iat"] == claims["nbf"]
    uuid.UUID(claims["jti"])
    # RFC 7518 §3.4: the signature is R || S, 32 bytes each, not OpenSSL's DER.
    signature = access_token.rsplit(".", 1)[1]
    assert len(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))) == 64
    assert len(claims["ref_token"]) >= 43  # 256 random bits, URL-safe base64
    # Issuing writes nothing: only revocations are recorded.
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(TokenRevocation)).scalar_one() == 0


def test_wrong_secret_is_401_with_seed_body(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    form = credentials_form(creds) | {"client_secret": "wrong"}
    body = assert_seed_error(token_request(live_server, data=form), 401, "invalid_client")
    assert body["code"] == "CH1003"
    assert body["errorCategory"] == "authentication"


def test_wrong_basic_secret_has_challenge(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    response = token_request(
        live_server,
        data={"grant_type": "client_credentials"},
        auth=(creds.party.client_id, "wrong"),
    )
    assert_seed_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("form", "status", "oauth_error"),
    [
        ({"client_id": str(uuid.uuid4()), "client_secret": "x"}, 400, "invalid_request"),
        (
            {"grant_type": "password", "client_id": str(uuid.uuid4()), "client_secret": "x"},
            400,
            "unsupported_grant_type",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": str(uuid.uuid4()),
                "client_secret": "x",
            },
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "not-a-uuid", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": str(uuid.uuid4())},
            401,
            "invalid_client",
        ),
    ],
)
def test_bad_requests(
    live_server: LiveServer, db: Database, form: dict[str, str], status: int, oauth_error: str
) -> None:
    assert_seed_error(token_request(live_server, data=form), status, oauth_error)


def test_unsupported_media_type(live_server: LiveServer, db: Database) -> None:
    response = token_request(
        live_server,
        content=b"grant_type=client_credentials",
        headers={"content-type": "text/plain"},
    )
    assert_seed_error(response, 415, "invalid_request")


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b'{"grant_type": 5}'])
def test_malformed_json(live_server: LiveServer, db: Database, body: bytes) -> None:
    response = token_request(
        live_server, content=body, headers={"content-type": "application/json"}
    )
    assert_seed_error(response, 400, "invalid_request")


def test_repeated_parameter_rejected(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    content = (
        f"grant_type=client_credentials&client_id={creds.party.client_id}"
        f"&client_secret={creds.client_secret}&client_secret=other"
    )
    assert_seed_error(form_request(live_server, content.encode()), 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [b"grant_type", b"grant_type=client_credentials&&client_id=x", b"grant_type=\xff", b"&"],
    ids=["pair-without-equals", "empty-pair", "not-utf8", "only-separator"],
)
def test_malformed_form_body(live_server: LiveServer, db: Database, body: bytes) -> None:
    body_json = assert_seed_error(form_request(live_server, body), 400, "invalid_request")
    assert "form encoding" in body_json["message"]


def test_form_escapes_are_decoded(live_server: LiveServer, db: Database) -> None:
    """Percent escapes and ``+`` for space are decoded (RFC 6749 Appendix B)."""
    creds = add_party(db)
    client_id = creds.party.client_id.replace("-", "%2D")
    content = (
        f"grant_type=client%5Fcredentials&client_id={client_id}"
        f"&client_secret={creds.client_secret}&scope=data%3Aread+"
    )
    response = form_request(live_server, content.encode(), f"{FORM}; charset=UTF-8")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "data:read"


def test_two_authentication_methods_rejected(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    response = token_request(
        live_server, data=credentials_form(creds), auth=(creds.party.client_id, creds.client_secret)
    )
    assert_seed_error(response, 400, "invalid_request")


def test_scope_subset_and_invalid_scope(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    ok = token_request(live_server, data=credentials_form(creds) | {"scope": "data:read"})
    assert ok.status_code == 200
    assert ok.json()["scope"] == "data:read"
    bad = token_request(live_server, data=credentials_form(creds) | {"scope": "consent"})
    assert_seed_error(bad, 400, "invalid_scope")


def test_secret_stored_only_as_hash(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    assert len(base64.urlsafe_b64decode(creds.client_secret + "=")) * 8 >= 256
    with db.read() as conn:
        hashes = list(conn.execute(select(ClientSecret.secret_hash)).scalars())
    assert hashes
    assert creds.client_secret not in hashes
    assert all(creds.client_secret not in stored for stored in hashes)


def test_failures_are_throttled(settings: Settings, db: Database) -> None:
    creds = add_party(db)
    limited = settings.model_copy(update={"failed_auth_limit": 3})
    with LiveServer(limited, db) as server:
        wrong = credentials_form(creds) | {"client_secret": "wrong"}
        for _ in range(3):
            assert token_request(server, data=wrong).status_code == 401
        blocked = token_request(server, data=credentials_form(creds))
        body = assert_seed_error(blocked, 429, "slow_down")
        assert body["code"] == "CH1005"
        assert int(blocked.headers["retry-after"]) > 0


def test_rotation_keeps_old_secret_for_overlap(settings: Settings, db: Database) -> None:
    from consenthub.registry.store import rotate_secret

    creds = add_party(db)
    # Party records are cached for cache_ttl_seconds; with 0, expiry is seen at once.
    with LiveServer(settings.model_copy(update={"cache_ttl_seconds": 0}), db) as server:
        _check_rotation(server, db, creds, rotate_secret)


def _check_rotation(live_server: LiveServer, db: Database, creds: Any, rotate_secret: Any) -> None:
    assert token_request(live_server, data=credentials_form(creds)).status_code == 200
    with db.write() as conn:
        rotated = rotate_secret(
            conn, TEST_SECRET_KEY.encode(), creds.party.client_id, overlap=dt.timedelta(hours=1)
        )
    assert token_request(live_server, data=credentials_form(creds)).status_code == 200
    assert token_request(live_server, data=credentials_form(rotated)).status_code == 200
    with db.write() as conn:
        newest = rotate_secret(
            conn, TEST_SECRET_KEY.encode(), creds.party.client_id, overlap=dt.timedelta(0)
        )
    for old in (creds, rotated):
        assert token_request(live_server, data=credentials_form(old)).status_code == 401
    assert token_request(live_server, data=credentials_form(newest)).status_code == 200


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_token(server: LiveServer, creds: Any) -> str:
    return str(token_request(server, data=credentials_form(creds)).json()["access_token"])


def test_revoked_token_rejected_and_inactive(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    access_token = get_token(live_server, creds)
    api = f"{live_server.url}/api/v1/metering-points"
    assert httpx.get(api, headers=bearer(access_token)).status_code == 200
    revoked = httpx.post(
        f"{live_server.url}/sts/revoke",
        data={"token": access_token},
        auth=(creds.party.client_id, creds.client_secret),
    )
    assert revoked.status_code == 200
    rejected = httpx.get(api, headers=bearer(access_token))
    assert_seed_error(rejected, 401, "invalid_token")
    assert 'error="invalid_token"' in rejected.headers["www-authenticate"]
    introspected = httpx.post(
        f"{live_server.url}/sts/introspect",
        data={"token": access_token},
        auth=(creds.party.client_id, creds.client_secret),
    )
    assert introspected.json() == {"active": False}


def test_cannot_revoke_another_partys_token(live_server: LiveServer, db: Database) -> None:
    owner = add_party(db, seed=1)
    other = add_party(db, seed=2, name="Annen AS")
    access_token = get_token(live_server, owner)
    response = httpx.post(
        f"{live_server.url}/sts/revoke",
        data={"token": access_token},
        auth=(other.party.client_id, other.client_secret),
    )
    assert response.status_code == 200
    api = f"{live_server.url}/api/v1/metering-points"
    assert httpx.get(api, headers=bearer(access_token)).status_code == 200


def test_introspection(live_server: LiveServer, db: Database) -> None:
    owner = add_party(db, seed=1)
    stranger = add_party(db, seed=2, name="Annen AS")
    source = add_party(db, seed=3, name="Datakilde AS", roles=("data_source",))
    access_token = get_token(live_server, owner)
    url = f"{live_server.url}/sts/introspect"
    own = httpx.post(
        url, data={"token": access_token}, auth=(owner.party.client_id, owner.client_secret)
    ).json()
    assert own["active"] is True
    assert own["client_id"] == owner.party.client_id
    assert "ref_token" not in own
    by_source = httpx.post(
        url, data={"token": access_token}, auth=(source.party.client_id, source.client_secret)
    ).json()
    assert by_source["active"] is True
    by_stranger = httpx.post(
        url, data={"token": access_token}, auth=(stranger.party.client_id, stranger.client_secret)
    ).json()
    assert by_stranger == {"active": False}
    garbage = httpx.post(
        url, data={"token": "abc.def.ghi"}, auth=(owner.party.client_id, owner.client_secret)
    ).json()
    assert garbage == {"active": False}
    unauthenticated = httpx.post(url, data={"token": access_token})
    assert_seed_error(unauthenticated, 401, "invalid_client")


def test_token_from_other_environment_rejected(settings: Settings, db: Database) -> None:
    creds = add_party(db)
    with LiveServer(settings, db) as test_env:
        access_token = get_token(test_env, creds)
    prod = settings.model_copy(update={"environment": "prod"})
    with LiveServer(prod, db) as prod_env:
        response = httpx.get(f"{prod_env.url}/api/v1/metering-points", headers=bearer(access_token))
        assert_seed_error(response, 401, "invalid_token")


def forge(
    server: LiveServer,
    creds: Any,
    db: Database,
    *,
    key: ECKey | None = None,
    header: dict[str, Any] | None = None,
    **claim_changes: Any,
) -> str:
    """A token like a real one, with changed claims or header, signed by ``key``."""
    real = get_token(server, creds)
    claims = jwt.decode(real, jwks_of(server), algorithms=["ES256"]).claims
    claims.update(claim_changes)
    signing_key = key or server.app.state.services.keys.signing_key()
    head = {"alg": "ES256", "kid": signing_key.kid, "typ": "at+jwt"} | (header or {})
    return jwt.encode(head, claims, signing_key, algorithms=["ES256"])


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "foreign_key",
        "wrong_type",
        "tampered",
        "alg_none",
    ],
)
def test_bad_tokens_rejected_by_data_api(live_server: LiveServer, db: Database, case: str) -> None:
    creds = add_party(db)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    if case == "expired":
        token = forge(live_server, creds, db, iat=now - 4000, nbf=now - 4000, exp=now - 2000)
    elif case == "not_yet_valid":
        token = forge(live_server, creds, db, nbf=now + 600)
    elif case == "wrong_audience":
        token = forge(live_server, creds, db, aud="consenthub:prod")
    elif case == "wrong_issuer":
        token = forge(live_server, creds, db, iss="https://evil.example")
    elif case == "foreign_key":
        real_kid = live_server.app.state.services.keys.signing_key().kid
        foreign = ECKey.generate_key("P-256", parameters={"kid": real_kid})
        token = forge(live_server, creds, db, key=foreign)
    elif case == "wrong_type":
        token = forge(live_server, creds, db, header={"typ": "JWT"})
    elif case == "tampered":
        head, payload, signature = get_token(live_server, creds).split(".")
        claims = base64.urlsafe_b64decode(payload + "==").replace(b"data:read", b"data:rwrt")
        token = ".".join([head, base64.urlsafe_b64encode(claims).decode().rstrip("="), signature])
    else:
        real = get_token(live_server, creds)
        head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').decode().rstrip("=")
        token = ".".join([head, real.split(".")[1], ""])
    response = httpx.get(f"{live_server.url}/api/v1/metering-points", headers=bearer(token))
    assert_seed_error(response, 401, "invalid_token")


def test_missing_bearer_token(live_server: LiveServer, db: Database) -> None:
    response = httpx.get(f"{live_server.url}/api/v1/metering-points")
    body = assert_seed_error(response, 401, None)
    assert body["code"] == "CH1101"
    assert response.headers["www-authenticate"] == 'Bearer realm="consenthub"'


def test_insufficient_scope(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    narrow = token_request(
        live_server, data=credentials_form(creds) | {"scope": "third-party-access"}
    ).json()["access_token"]
    response = httpx.get(f"{live_server.url}/api/v1/metering-points", headers=bearer(narrow))
    assert_seed_error(response, 403, "insufficient_scope")


def test_metadata(live_server: LiveServer, db: Database) -> None:
    meta = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == live_server.settings.token_issuer
    assert meta["token_endpoint"] == f"{live_server.url}/sts/Token"
    assert meta["jwks_uri"] == f"{live_server.url}/.well-known/jwks.json"
    assert meta["revocation_endpoint"].endswith("/sts/revoke")
    assert meta["introspection_endpoint"].endswith("/sts/introspect")
    assert "client_credentials" in meta["grant_types_supported"]


def test_key_rotation_without_downtime(settings: Settings, db: Database) -> None:
    creds = add_party(db)
    fast = settings.model_copy(update={"cache_ttl_seconds": 0})
    with LiveServer(fast, db) as server:
        old_token = get_token(server, creds)
        old_kid = jwt.decode(old_token, jwks_of(server), algorithms=["ES256"]).header["kid"]
        with db.write() as conn:
            pending = keyring.create_key(
                conn,
                TEST_SECRET_KEY.encode(),
                activates_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        published = {
            key["kid"] for key in httpx.get(f"{server.url}/.well-known/jwks.json").json()["keys"]
        }
        assert published == {old_kid, pending}
        # Pre-published but not yet active: still signing with the old key.
        still_old = get_token(server, creds)
        assert jwt.decode(still_old, jwks_of(server), algorithms=["ES256"]).header["kid"] == old_kid
        with db.write() as conn:
            active = keyring.create_key(
                conn, TEST_SECRET_KEY.encode(), activates_at=dt.datetime.now(dt.UTC)
            )
        new_token = get_token(server, creds)
        assert jwt.decode(new_token, jwks_of(server), algorithms=["ES256"]).header["kid"] == active
        api = f"{server.url}/api/v1/metering-points"
        for token in (old_token, new_token):
            assert httpx.get(api, headers=bearer(token)).status_code == 200


def test_superseded_key_leaves_jwks_after_retention() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    old = keyring.KeyState("old", {}, "", now - 10 * hour, now - 10 * hour)
    new = keyring.KeyState("new", {}, "", now - 2 * hour, now - 2 * hour)
    upcoming = keyring.KeyState("next", {}, "", now - hour, now + hour)
    retention = dt.timedelta(minutes=35)
    shown = {key.kid for key in keyring.published([old, new, upcoming], now, retention)}
    assert shown == {"new", "next"}
    shown_soon_after = {
        key.kid
        for key in keyring.published(
            [old, new], now - 2 * hour + dt.timedelta(minutes=30), retention
        )
    }
    assert shown_soon_after == {"old", "new"}
    assert keyring.signing([old, new, upcoming], now) == new


def test_body_over_16_kib_is_refused_before_parsing(live_server: LiveServer, db: Database) -> None:
    creds = add_party(db)
    form = credentials_form(creds) | {"scope": "x" * 17_000}
    body = assert_seed_error(token_request(live_server, data=form), 400, "invalid_request")
    assert body["code"] == "CH1001"
    assert "larger than 16384 bytes" in body["message"]


def test_tokens_of_a_deactivated_party_stop_working_at_once(
    live_server: LiveServer, db: Database
) -> None:
    """A token verified before is remembered, but its party is checked on every use."""
    creds = add_party(db)
    access_token = get_token(live_server, creds)
    api = f"{live_server.url}/api/v1/metering-points"
    assert httpx.get(api, headers=bearer(access_token)).status_code == 200
    with db.write() as conn:
        conn.execute(update(Party).where(Party.id == creds.party.id).values(active=False))
    assert_seed_error(httpx.get(api, headers=bearer(access_token)), 401, "invalid_token")
