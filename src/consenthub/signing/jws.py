"""The one JWS signer and verifier for everything the hub signs (RFC 7515, ES256).

Access tokens (``typ: at+jwt``, RFC 9068), BRS-NO-624 return messages (``typ: JWT``)
and, as they land, consent tokens are all compact serialisations signed with the
hub's current key (``signing.keys.KeyRing``) and verified with joserfc.

Signing is assembled here rather than with ``jws.serialize_compact``: that call
validates and encodes the same protected header on every token and looks the key's
operations up each time, which together cost more than the signature on the token
endpoint's hot path (docs/decisions.md, BENCHMARKS.md). The header is encoded once
per key and type; the signature is ``cryptography``'s ECDSA P-256/SHA-256 converted
from DER to R‖S (RFC 7518 §3.4). No cryptography is written here, only the
concatenation RFC 7515 §7.1 defines. Verification always goes through joserfc.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import extract_compact

from consenthub.signing.keys import ALGORITHM, KeyRing

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_P256_BYTES = 32


class InvalidSignature(Exception):
    """Malformed, signed by no published key, or of another ``typ``."""


def _base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@functools.lru_cache(maxsize=64)
def _protected_header(kid: str, typ: str) -> bytes:
    """The encoded protected header and its dot, the same for everything one key signs
    with one type."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": typ}
    return _base64url(orjson.dumps(header)) + b"."


def sign(key: ECKey, claims: dict[str, Any], typ: str) -> str:
    """RFC 7515 §7.1 compact serialisation of ``claims``, signed ES256 with ``key``."""
    signing_input = _protected_header(str(key.kid), typ) + _base64url(orjson.dumps(claims))
    private_key = key.private_key
    assert private_key is not None  # the key ring hands out private keys only
    # RFC 7518 §3.4: R and S as fixed-size big-endian integers, not OpenSSL's DER.
    r, s = decode_dss_signature(private_key.sign(signing_input, _ECDSA_SHA256))
    signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return (signing_input + b"." + _base64url(signature)).decode()


def decode(token: str, keys: KeyRing, typ: str) -> dict[str, Any]:
    """The claims of a token signed by a published key with header ``typ``; the claims
    themselves (``iss``, ``aud``, times) are the caller's to judge."""
    try:
        kid = extract_compact(token.encode()).headers().get("kid")
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidSignature("malformed token") from exc
    try:
        decoded = jwt.decode(token, keys.verification_keys(kid), algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise InvalidSignature("signature does not verify") from exc
    if decoded.header.get("typ") != typ:
        raise InvalidSignature(f"not a {typ} token")
    return dict(decoded.claims)
