"""Rules of URL-initiated third-party access (seed 000, Elhub BRS-NO-624). Pure: imports
only ``domain``. The link is judged before anything else, and nothing it names is
trusted until these pass: a bad link is an error page, never a redirect."""

from __future__ import annotations

from collections.abc import Sequence

from consenthub.domain.access import Scope
from consenthub.domain.messages import N_
from consenthub.domain.parties import Role
from consenthub.url_access.errors import LinkError

LINK_PARAMETERS = ("client_id", "request_id", "scope", "redirect_uri")


def single_parameters(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each link parameter at most once: a repeated one would let two readers of the same
    link disagree about what it asks.

    Seed 000 §4.1: the link carries ``client_id``, ``request_id`` and ``scope`` (and
    consenthub's optional ``redirect_uri``), each one value.
    """
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in LINK_PARAMETERS:
            if name in values:
                raise LinkError(N_("The parameter %(name)s is given more than once."), name=name)
            values[name] = value
    return values


def may_ask(active: bool, roles: Sequence[str]) -> None:
    """Only a registered, active third party may send end users here.

    Seed 000: "Ugyldig client_id (ikke whitelistet)" is refused; SPEC §4.2.
    """
    if not active or Role.THIRD_PARTY not in roles:
        raise LinkError(N_("The third party is not registered with the hub."))


def return_address(registered: Sequence[str], given: str | None) -> str:
    """The address the answer goes back to: exactly one of the party's registered
    addresses, or its only one when none is named.

    Seed 000: the return URL must be whitelisted; SPEC §4.1–§4.2 ("never a redirect to
    an address that is not registered").
    """
    if given is None:
        if len(registered) != 1:
            raise LinkError(N_("The third party must say which return address to use."))
        return registered[0]
    if given not in registered:
        raise LinkError(N_("The return address is not registered for this third party."))
    return given


def scope_of(text: str | None) -> Scope:
    """``scope`` is ``Full`` or ``Limited``, as Elhub names them.

    Seed 000 §4.1 / SPEC §4.7.
    """
    if text not in (Scope.FULL, Scope.LIMITED):
        raise LinkError(N_("scope must be Full or Limited."))
    return Scope(text)


def continues(
    *,
    pending: bool,
    same_scope: bool,
    same_return_address: bool,
    owner: int | None,
    person: int | None,
) -> bool:
    """A link opened again continues its open request when nothing about it changed and
    it is the same person (or nobody has opened it yet); otherwise the ``request_id`` is
    spent (``EH098``).

    Seed 000: EH098 "Forespørsel fra tredjepart foreligger allerede".
    """
    return pending and same_scope and same_return_address and owner in (None, person)
