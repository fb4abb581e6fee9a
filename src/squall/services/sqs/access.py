"""Who may use a queue: its own account, or another account (or a service principal acting for
one) that the queue's `Policy` allows, through the shared evaluator (services/resource_policy.py).

The operations AWS never lets another account perform, whatever the queue policy says
("Cross-account permissions don't apply to": DeleteQueue, SetQueueAttributes, the tag
operations, the message move tasks, ...) are refused across accounts outright. A refusal is
AWS's `AccessDenied` (403, `x-amzn-query-error: AccessDenied;Sender`), except GetQueueUrl,
which answers as if the queue did not exist (it reveals no other account's queue names).

The same-account check is one string comparison: nothing is parsed on that path.
"""

from __future__ import annotations

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.resource_policy import allowed, not_authorized_message
from squall.services.sqs.queues import Queue

#: Operations that only the queue's owner may perform.
OWNER_ONLY = frozenset(
    {
        "AddPermission",
        "RemovePermission",
        "CreateQueue",
        "DeleteQueue",
        "SetQueueAttributes",
        "TagQueue",
        "UntagQueue",
        "ListQueueTags",
        "StartMessageMoveTask",
        "CancelMessageMoveTask",
        "ListMessageMoveTasks",
    }
)

#: The IAM action of the operations whose action is not `sqs:<Operation>`.
_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def action_of(operation: str) -> str:
    return _ACTIONS.get(operation) or f"sqs:{operation}"


def access_denied(principal: Principal, action: str, queue: Queue) -> ServiceError:
    # (JSON: AWS's `__type` is coral's AccessDeniedException, but clients read the code from
    # `x-amzn-query-error`; the query protocol's <Code> is AccessDenied)
    return ServiceError(
        "AccessDenied",
        not_authorized_message(principal, action, queue.arn),
        403,
        headers={"x-amzn-query-error": "AccessDenied;Sender"},
    )


def may(principal: Principal, queue: Queue, operation: str) -> bool:
    """Whether `principal` may perform `operation` on `queue`."""
    if principal.account_id == queue.account:
        return True
    if operation in OWNER_ONLY:
        return False
    return allowed(queue.account, queue.attributes.get("Policy"), principal, action_of(operation), queue.arn)


def check(principal: Principal, queue: Queue, operation: str) -> Queue:
    """`queue` if `principal` may perform `operation` on it; AccessDenied otherwise."""
    if principal.account_id == queue.account or may(principal, queue, operation):
        return queue
    raise access_denied(principal, action_of(operation), queue)
