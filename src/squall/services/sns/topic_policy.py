"""Cross-account access to a topic through its access policy.

The topic's own account may do anything. Another account needs an `Allow` statement in the topic's
`Policy` whose principal names it (or "*"), whose action covers the operation and whose resource
covers the topic; statements with a `Condition` are not evaluated and grant nothing across accounts
(the default policy's `AWS:SourceOwner` condition thus keeps other accounts out, as on AWS).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import orjson

from squall.services.base import RequestContext
from squall.services.sns.errors import authorization_error
from squall.services.sns.records import Topic


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    names = _as_list(principal.get("AWS", []))
    return any(n in ("*", account, f"arn:aws:iam::{account}:root") for n in names)


def allows(topic: Topic, account: str, action: str) -> bool:
    """Whether `account` may perform `action` (e.g. "SNS:Publish") on `topic`."""
    if account == topic.account:
        return True
    raw = topic.attributes.get("Policy")
    if not raw:
        return False
    try:
        statements = _as_list(orjson.loads(raw).get("Statement", []))
    except (orjson.JSONDecodeError, AttributeError):
        return False
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow" or "Condition" in st:
            continue
        actions = [str(a).lower() for a in _as_list(st.get("Action", []))]
        resources = [str(r) for r in _as_list(st.get("Resource", "*"))]
        if (
            _principal_matches(st.get("Principal"), account)
            and any(fnmatch.fnmatchcase(action.lower(), a) for a in actions)
            and any(fnmatch.fnmatchcase(topic.arn, r) for r in resources)
        ):
            return True
    return False


def require(ctx: RequestContext, topic: Topic, operation: str) -> Topic:
    """`topic` if the caller may perform `operation` on it; AuthorizationError (403) otherwise."""
    action = f"SNS:{operation}"
    if not allows(topic, ctx.account_id, action):
        who = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        raise authorization_error(
            f"User: {who} is not authorized to perform: {action} on resource: {topic.arn} "
            f"because no resource-based policy allows the {action} action"
        )
    return topic
