"""Small helpers shared by the layers, policy, invoke-config and event-source-mapping parts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from squall.protocol.errors import ServiceError

T = TypeVar("T")

NOT_FOUND_MESSAGE = "The resource you requested does not exist."


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes) -> Any:
    return orjson.loads(data)


def now() -> float:
    return time.time()


def iso_millis(epoch: float) -> str:
    """Lambda's string dates: `2018-11-14T23:03:52.894+0000`."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message, 400, fields={"Type": "User"})


def not_found(message: str = NOT_FOUND_MESSAGE) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message, 404, fields={"Type": "User"})


def conflict(message: str) -> ServiceError:
    return ServiceError("ResourceConflictException", message, 409, fields={"Type": "User"})


def page(
    items: Sequence[T], marker: str | None, max_items: int | None, default: int = 50
) -> tuple[list[T], str | None]:
    """Marker paging over an ordered list: the marker is the index of the next item."""
    start = 0
    if marker:
        try:
            start = int(marker)
        except ValueError:
            raise invalid("Invalid marker: " + marker) from None
        if start < 0 or start > len(items):
            raise invalid("Invalid marker: " + marker)
    size = max_items or default
    chunk = list(items[start : start + size])
    nxt = start + size
    return chunk, (str(nxt) if nxt < len(items) else None)
