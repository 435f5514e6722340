"""Grants other processes answer at ``POST /sts/Token``, and the tokens they issue at
``POST /sts/introspect``. The token service stands below the processes, so a process
hands it these functions (registered by ``app.create_app``), as processes hand Min side
their decision flows. The client-credentials path never looks at them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from consenthub.registry import PartyRecord
from consenthub.services import Services

# The token response body for an authenticated client and the request's parameters. Both
# issuers are coroutines, called on the event loop as client credentials is: they choose
# where their database work runs themselves (a write on the one writer thread on SQLite, a
# single read on the loop, ``Database.quick_read``), which costs far less CPU than a
# thread per request of the thread pool under load (bench: consent tokens).
IssueFromGrant = Callable[[Services, PartyRecord, Mapping[str, str]], Awaitable[dict[str, Any]]]
# The token response body for one RFC 9396 ``authorization_details`` entry.
IssueFromDetails = Callable[[Services, PartyRecord, Mapping[str, Any]], Awaitable[dict[str, Any]]]
# The introspection claims of a live token of the extension's own type, else None.
Introspect = Callable[[Services, PartyRecord, str], dict[str, Any] | None]


@dataclass(frozen=True)
class TokenExtension:
    grant_type: str
    authorization_details_type: str
    issue_from_grant: IssueFromGrant
    issue_from_details: IssueFromDetails
    introspect: Introspect
