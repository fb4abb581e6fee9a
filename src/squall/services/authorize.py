"""The authorization step every call passes, from the wire and in process alike.

`ServiceRegistry.dispatch` asks its `Authorizer` before it runs an operation's
handler, with the caller's `Principal`, the operation's table entry (its IAM
action) and the validated input. Until IAM policies exist in Squall (users,
roles and their policies: the IAM issue), `AccountScoped` is the policy: any
authenticated principal may call any operation, and what crosses accounts is
decided by the resource policies the owning services evaluate (SQS queue
policies, SNS topic policies, Lambda function and layer policies, S3 bucket
policies), all through `resource_policy.py`. The IAM
implementation replaces it without touching the gateway or any provider.
"""

from __future__ import annotations

from typing import Any, Protocol

from squall.services.context import RequestContext
from squall.services.operations import Operation


class Authorizer(Protocol):
    def authorize(self, ctx: RequestContext, operation: Operation, params: dict[str, Any]) -> None:
        """Return if `ctx.principal` may make this call; raise the service's access-denied
        `ServiceError` otherwise."""
        ...


class AccountScoped:
    """Identity policies not evaluated (no IAM yet): every principal the gateway authenticated,
    and every principal a service acts as, may call every operation."""

    def authorize(self, ctx: RequestContext, operation: Operation, params: dict[str, Any]) -> None:
        return None
