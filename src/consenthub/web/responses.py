"""JSON responses rendered by orjson (fast, and it serialises dates and UUIDs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_NO_STORE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
]


class NoStoreJSONResponse(JSONResponse):
    """An answer that carries credentials: never stored by caches (RFC 6749 §5.1).
    Its headers are fixed, so they are encoded once rather than per response."""

    def __init__(self, content: Any) -> None:
        super().__init__(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        self.raw_headers = [*_NO_STORE_HEADERS, (b"content-length", b"%d" % len(self.body))]
