"""Subscription filter policies: validation and matching of a published message."""

from __future__ import annotations

from typing import Any

import orjson

from squall.services.sns.errors import invalid_parameter


def check(policy: str) -> None:
    """Validate a FilterPolicy attribute value (InvalidParameter "Invalid parameter: FilterPolicy: ...")."""
    try:
        doc = orjson.loads(policy)
    except orjson.JSONDecodeError:
        raise invalid_parameter("FilterPolicy: failed to parse JSON.") from None
    if not isinstance(doc, dict):
        raise invalid_parameter("FilterPolicy: Filter policy must be a JSON object")


def matches(policy: str | None, scope: str | None, message: str, attributes: dict[str, Any]) -> bool:
    """Whether a message passes a subscription's filter policy (no policy: always)."""
    return True
