"""Subscription filter policies, compiled by the shared event-pattern matcher (squall.eventpattern)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from squall.eventpattern import Pattern, PatternError, compile_pattern, sns_attributes_document
from squall.services.sns.errors import invalid_parameter


@lru_cache(maxsize=1024)
def _compiled(policy: str, scope: str) -> Pattern:
    return compile_pattern(
        policy, dialect="sns", scope="MessageBody" if scope == "MessageBody" else "MessageAttributes"
    )


def check(policy: str, scope: str | None = None, *, subscribing: bool = False) -> None:
    """Validate a FilterPolicy for a scope (default MessageAttributes); InvalidParameter
    otherwise, worded as AWS words it: "Invalid parameter: FilterPolicy: <reason>" from
    SetSubscriptionAttributes, "Invalid parameter: Attributes Reason: FilterPolicy: <reason>"
    from Subscribe (`subscribing`)."""
    try:
        _compiled(policy, scope or "MessageAttributes")
    except PatternError as err:
        where = "Attributes Reason: FilterPolicy" if subscribing else "FilterPolicy"
        raise invalid_parameter(f"{where}: {err.reason}") from None


def matches(policy: str | None, scope: str | None, message: str, attributes: dict[str, Any]) -> bool:
    """Whether a message passes a subscription's filter policy (no policy: always). With the
    MessageBody scope a body that is not a JSON object never matches."""
    if not policy:
        return True
    pattern = _compiled(policy, scope or "MessageAttributes")
    if scope == "MessageBody":
        try:
            doc = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        return isinstance(doc, dict) and pattern.matches(doc)
    return pattern.matches(sns_attributes_document(attributes))
