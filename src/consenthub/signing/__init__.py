"""The hub's signing keys and the one JWS signer for everything it signs."""

from consenthub.signing.jws import InvalidSignature, decode, sign
from consenthub.signing.keys import ALGORITHM, KeyRing, create_key, ensure_key
from consenthub.signing.verified import CLOCK_LEEWAY_SECONDS, VerifiedTokens

__all__ = [
    "ALGORITHM",
    "CLOCK_LEEWAY_SECONDS",
    "InvalidSignature",
    "KeyRing",
    "VerifiedTokens",
    "create_key",
    "decode",
    "ensure_key",
    "sign",
]
