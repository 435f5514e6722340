"""Browser sessions kept on the server (SPEC §9; the probe's defects 5 and 10).

The cookie holds only a random 256-bit id; the session's content (who is logged in,
the CSRF token, the login's state and PKCE verifier) stays in the database, under the
id's SHA-256. So a session can be ended for good — logout, "log out on all devices", a
new login in the same browser — and a copy of the cookie taken before that opens
nothing; and the cookie tells nothing of the person to whoever reads it.

A request without the cookie costs nothing; one with it reads its session once, and
writes only when the request changed it. Emptying a session (``session.clear()``)
ends it; filling it again gives it a new id, so a login never keeps the id it came
with (session fixation).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from http.cookies import SimpleCookie
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consenthub.domain.errors import Code, DomainError
from consenthub.services import Services
from consenthub.store import sessions

COOKIE = "consenthub_session"


class SessionData(dict[str, Any]):
    """The session as handlers see it; remembers whether it was emptied."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.cleared = False

    def clear(self) -> None:
        super().clear()
        self.cleared = True


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _end_user(data: dict[str, Any]) -> int | None:
    user = data.get("user")
    return int(user["id"]) if isinstance(user, dict) and "id" in user else None


class ServerSessions:
    def __init__(self, app: ASGIApp, *, max_age: int, secure: bool) -> None:
        self.app = app
        self.max_age = max_age
        self.secure = secure

    def _cookie(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # a malformed Cookie header is no session
                    return None
                found = jar.get(COOKIE)
                return found.value if found is not None else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hub: Services = scope["app"].state.services
        session_id = self._cookie(scope)
        stored = None
        if session_id:
            id_hash = _hash(session_id)
            stored = await asyncio.to_thread(self._load, hub, id_hash)
        data = SessionData(stored.data if stored else {})
        before = orjson.dumps(dict(data), option=orjson.OPT_SORT_KEYS)
        scope["session"] = data

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                after = orjson.dumps(dict(data), option=orjson.OPT_SORT_KEYS)
                if data.cleared or after != before:
                    try:
                        cookie = await asyncio.to_thread(
                            self._commit, hub, session_id if stored else None, data
                        )
                    except DomainError as exc:
                        # The page saying the database is unavailable still goes out;
                        # the session stays as it was. Any other answer is replaced
                        # by that error (RequestContext), as its session is not kept.
                        if exc.code is not Code.STORE_UNAVAILABLE or message["status"] != 503:
                            raise
                        cookie = None
                    if cookie is not None:
                        MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_session)

    @staticmethod
    def _load(hub: Services, id_hash: str) -> sessions.StoredSession | None:
        with hub.database.read() as conn:
            return sessions.load(conn, id_hash, hub.now())

    def _commit(self, hub: Services, session_id: str | None, data: SessionData) -> str | None:
        """Store what the request made of the session; the Set-Cookie header, if any."""
        now = hub.now()
        content = dict(data)
        with hub.database.write() as conn:
            if session_id is not None and (data.cleared or not content):
                sessions.end(conn, _hash(session_id), now)
            if not content:
                return self._set_cookie("", 0) if session_id is not None else None
            if session_id is not None and not data.cleared:
                sessions.save(conn, _hash(session_id), content, _end_user(content))
                return None
            new_id = secrets.token_urlsafe(32)
            sessions.create(
                conn,
                _hash(new_id),
                content,
                end_user_id=_end_user(content),
                now=now,
                expires_at=now + dt.timedelta(seconds=self.max_age),
            )
        return self._set_cookie(new_id, self.max_age)

    def _set_cookie(self, value: str, max_age: int) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
