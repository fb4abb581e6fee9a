"""Cross-account access to a topic through its access policy.

The topic's own account may do anything. Another account (or a service principal acting for one)
needs the topic's `Policy` to allow it and not deny it, through the shared evaluator
(services/resource_policy.py: principals, actions and resources with wildcards, conditions on the
keys Squall knows; the default policy's `AWS:SourceOwner` condition keeps other accounts out, as
on AWS).
"""

from __future__ import annotations

from squall.services.base import RequestContext
from squall.services.context import Principal
from squall.services.resource_policy import allowed
from squall.services.sns.errors import authorization_error
from squall.services.sns.records import Topic


def allows(topic: Topic, principal: Principal, action: str) -> bool:
    """Whether `principal` may perform `action` (e.g. "SNS:Publish") on `topic`."""
    if principal.account_id == topic.account:
        return True
    return allowed(topic.account, topic.attributes.get("Policy"), principal, action, topic.arn)


def require(ctx: RequestContext, topic: Topic, operation: str) -> Topic:
    """`topic` if the caller may perform `operation` on it; AuthorizationError (403) otherwise."""
    action = f"SNS:{operation}"
    if not allows(topic, ctx.principal, action):
        who = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        raise authorization_error(
            f"User: {who} is not authorized to perform: {action} on resource: {topic.arn} "
            f"because no resource-based policy allows the {action} action"
        )
    return topic
