"""Token service (seed 004, Helsenorge STS): client credentials, JWT access tokens with
``ref_token``, key rotation, revocation (RFC 7009), introspection (RFC 7662), metadata
(RFC 8414)."""
