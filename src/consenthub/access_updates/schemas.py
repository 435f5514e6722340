"""Message 34 "UpdateThirdPartyAccess" as it arrives (seed 001, SPEC §5): read whole,
each item checked for its form before any rule is judged."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from consenthub.access_updates.errors import MessageError
from consenthub.access_updates.rules import Action
from consenthub.domain.dates import calendar_date
from consenthub.domain.errors import Code
from consenthub.domain.identifiers import InvalidIdentifier, validate_gsrn, validate_uuid

MAX_ITEMS = 10_000
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Item:
    metering_point_id: str
    action: Action
    start: dt.date | None
    end: dt.date | None
    extended_storage: bool | None


@dataclass(frozen=True)
class Message:
    message_id: str | None
    items: list[Item]


def _date(where: str, value: Any) -> dt.date | None:
    if value is None:
        return None
    date = calendar_date(value)
    if date is None:
        raise MessageError(where, "must be a date YYYY-MM-DD")
    return date


_FIELDS = frozenset({"meteringPointId", "action", "start", "end", "extendedStorage"})
_ACTIONS = {action.value: action for action in Action}


def _item(index: int, raw: Any) -> Item:
    # Per item of up to 10,000: the checks allocate nothing until one fails.
    if not isinstance(raw, dict):
        raise MessageError(f"items[{index}]", "must be an object")
    if not _FIELDS.issuperset(raw):
        unknown = sorted(set(raw) - _FIELDS)[0]
        raise MessageError(f"items[{index}].{unknown}", "is not a field of an item")
    gsrn = raw.get("meteringPointId")
    if not isinstance(gsrn, str):
        raise MessageError(f"items[{index}].meteringPointId", "must be a string of 18 digits")
    try:
        gsrn = validate_gsrn(gsrn)
    except InvalidIdentifier as exc:
        raise MessageError(f"items[{index}].meteringPointId", f"GSRN {exc.rule}") from None
    named = raw.get("action")
    action = _ACTIONS.get(named) if isinstance(named, str) else None
    if action is None:
        raise MessageError(f"items[{index}].action", "must be add, remove or update")
    extended = raw.get("extendedStorage")
    if extended is not None and not isinstance(extended, bool):
        raise MessageError(f"items[{index}].extendedStorage", "must be true or false")
    start, end = raw.get("start"), raw.get("end")
    return Item(
        gsrn,
        action,
        None if start is None else _date(f"items[{index}].start", start),
        None if end is None else _date(f"items[{index}].end", end),
        extended,
    )


def parse_message(body: bytes) -> Message:
    """The message, or a ``MessageError`` naming the first field that is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise MessageError("body", f"at most {MAX_BODY_BYTES} bytes", code=Code.TOO_LARGE)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MessageError("body", "must be a JSON object") from None
    if not isinstance(document, dict):
        raise MessageError("body", "must be a JSON object")
    unknown = sorted(set(document) - {"messageId", "items"})
    if unknown:
        raise MessageError(unknown[0], "is not a field of the message")
    message_id = document.get("messageId")
    if message_id is not None:
        try:
            message_id = validate_uuid(str(message_id)) if isinstance(message_id, str) else None
        except InvalidIdentifier:
            message_id = None
        if message_id is None:
            raise MessageError("messageId", "must be a UUID")
    raw_items = document.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise MessageError("items", "must be a non-empty list")
    if len(raw_items) > MAX_ITEMS:
        raise MessageError("items", f"at most {MAX_ITEMS} items", code=Code.TOO_LARGE)
    items = [_item(index, raw) for index, raw in enumerate(raw_items)]
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.metering_point_id in seen:
            raise MessageError(
                f"items[{index}].meteringPointId",
                f"the same metering point as items[{seen[item.metering_point_id]}]",
            )
        seen[item.metering_point_id] = index
    return Message(message_id, items)
