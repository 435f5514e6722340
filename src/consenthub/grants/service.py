"""Use cases of grants that own their transaction."""

from __future__ import annotations

import dataclasses

from consenthub.domain.access import EndReason
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.grants import store
from consenthub.grants.rules import end_today, is_live
from consenthub.services import Services


def end_user_grant(hub: Services, grant_id: int, end_user_id: int) -> store.EndUserGrant:
    """One of the person's own live grants, to confirm ending it."""
    with hub.database.read() as conn:
        found = store.end_user_grant(conn, grant_id, end_user_id)
    if found is None or not is_live(found.valid_to, found.revoked, hub.today()):
        raise DomainError(Code.GRANT_NOT_FOUND, N_("There is no such access to end."))
    return found


def end_by_end_user(hub: Services, grant_id: int, end_user_id: int) -> store.EndUserGrant:
    """The person ends their own live grant today; the party keeps read access to data
    valid up to today. Anyone else's grant, or one already ended, is not found."""
    today = hub.today()
    with hub.database.write() as conn:
        found = store.end_user_grant(conn, grant_id, end_user_id, lock=True)
        if found is None or not is_live(found.valid_to, found.revoked, today):
            raise DomainError(Code.GRANT_NOT_FOUND, N_("There is no such access to end."))
        store.end_grant(
            conn,
            grant_id,
            end_today(found.valid_from, today),
            reason=EndReason.END_USER,
            actor=f"end_user:{end_user_id}",
        )
    return found


def end_by_operator(hub: Services, grant_id: int, *, actor: str) -> store.OperatorGrant:
    """The hub's operator ends a live grant today, as the person would (reason
    ``operator``): audited, and the party hears ``grant.ended``. A grant that is not
    live is not found."""
    today = hub.today()
    with hub.database.write() as conn:
        found = store.operator_grant(conn, grant_id, lock=True)
        if found is None or not is_live(found.valid_to, found.revoked, today):
            raise DomainError(Code.GRANT_NOT_FOUND, N_("There is no such access to end."))
        end = end_today(found.valid_from, today)
        store.end_grant(conn, grant_id, end, reason=EndReason.OPERATOR, actor=actor)
    return dataclasses.replace(found, valid_to=end, ended_reason=EndReason.OPERATOR)
