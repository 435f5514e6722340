"""National identity numbers at rest (issue 14, defect 15): encrypted, and found by a
keyed hash.

A stored id is three columns: the HMAC-SHA256 of its canonical form (what
``validate_end_user_id`` returns) under a lookup key, by which login, the import,
DH-831 and the consent checks find the person; the AES-256-GCM ciphertext
(``nonce || ciphertext || tag``, the lookup hash as associated data, so a ciphertext
moved to another row does not open); and the id of the key that sealed it. Every key
is derived (HKDF-SHA256) from the hub's secret key, so a database or a backup alone
shows no id, and a guess of an id cannot be checked against it either.

Key ids are numbers: ``CONSENTHUB_NATIONAL_ID_KEY_ID`` names the key new ids are
sealed with, and every key up to one past it opens (the one past it, so that during a
rolling change of the setting the servers not yet restarted read what the others
write). ``consenthub db reencrypt-ids`` seals every stored id again under the current
key. The lookup key does not rotate with them: it is one per hub secret key, so a
rotation never changes how a person is found.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class NationalIdKeyError(RuntimeError):
    """A stored id this hub cannot open: its key id is not one this hub has, or the hub's
    secret key is not the one it was sealed under. Says which, never the id."""


@dataclass(frozen=True)
class SealedId:
    """The stored form of one id: the end user row's ``national_id_hash``,
    ``national_id_key_id`` and ``national_id_cipher``."""

    lookup_hash: str
    key_id: int
    ciphertext: bytes


def _derive(secret_key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(
        secret_key
    )


class NationalIdCipher:
    """Seals, opens and hashes national ids under keys derived from the hub secret key."""

    def __init__(self, secret_key: bytes, key_id: int = 1) -> None:
        if key_id < 1:
            raise ValueError("national id key ids start at 1")
        self._secret_key = secret_key
        self.key_id = key_id
        self._ciphers: dict[int, AESGCM] = {}

    @cached_property
    def _lookup_key(self) -> bytes:
        return _derive(self._secret_key, "consenthub national id lookup")

    @cached_property
    def _token_key(self) -> bytes:
        return _derive(self._secret_key, "consenthub national id user tokens")

    def _cipher(self, key_id: int) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            if not 1 <= key_id <= self.key_id + 1:
                raise NationalIdKeyError(
                    f"a national id is sealed under key id {key_id}, which this hub does not "
                    f"have (CONSENTHUB_NATIONAL_ID_KEY_ID is {self.key_id}; it opens key ids "
                    f"1 to {self.key_id + 1})"
                )
            cipher = AESGCM(_derive(self._secret_key, f"consenthub national ids/{key_id}"))
            self._ciphers[key_id] = cipher
        return cipher

    def lookup_hash(self, national_id: str) -> str:
        """The keyed hash a person is found by; ``national_id`` in canonical form."""
        # ``hmac.digest``: one C call, a third of ``hmac.new``'s cost; the import pays it
        # for every person.
        return hmac.digest(self._lookup_key, national_id.encode(), "sha256").hex()

    def seal(self, national_id: str) -> SealedId:
        lookup_hash = self.lookup_hash(national_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(self.key_id).encrypt(
            nonce, national_id.encode(), lookup_hash.encode()
        )
        return SealedId(lookup_hash, self.key_id, nonce + sealed)

    def open(self, sealed: SealedId) -> str:
        cipher = self._cipher(sealed.key_id)
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, body, sealed.lookup_hash.encode()).decode()
        except InvalidTag:
            raise NationalIdKeyError(
                f"a national id sealed under key id {sealed.key_id} does not open: the hub "
                "secret key is not the one it was sealed with, or the row was altered"
            ) from None

    def user_token_tag(self, sha256_hex: str) -> str:
        """What is stored of a consent link's ``UserToken`` or ``OfferedBy``: a keyed hash
        of the hex SHA-256 of the id (seed 002's UserToken), because the plain SHA-256 of
        an 11-digit number is reversed by trying them all."""
        return hmac.digest(self._token_key, sha256_hex.lower().encode(), "sha256").hex()
