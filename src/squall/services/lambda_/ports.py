"""What Lambda offers other services in process: `LambdaEvents`, the `ports.FunctionEvents`
door for asynchronous events.

Event sources that invoke asynchronously on AWS (S3 notifications, SNS,
EventBridge, async-invoke destinations, CloudWatch Logs subscriptions) call
``submit(principal, function, payload, region=...)``; no HTTP hop. ``submit``
checks what AWS checks for that caller (the function and qualifier exist and,
for a service principal, the function's resource policy allows that service
for its source ARN and account), then commits the event to the durable async
queue, where it runs with the function's retry policy, event age and
destinations exactly like an ``Invoke`` with ``InvocationType=Event``. It
returns the event's request id. ``allowed`` is the same check without the
event, for configuration-time validation (S3's
PutBucketNotificationConfiguration refuses a function it may not invoke).

Call it on the event loop thread. Errors are `ServiceError`s as Lambda's API
would return them (``ResourceNotFoundException``, ``AccessDeniedException``).
"""

from __future__ import annotations

import time
import uuid

from squall.engine.asyncq import AsyncEvent, AsyncQueue
from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.async_invoke import ASYNC_REQUEST_LIMIT
from squall.services.lambda_.functions import Directory
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.services.lambda_.policy import PolicyStore


class LambdaEvents:
    def __init__(self, directory: Directory, policies: PolicyStore, queue: AsyncQueue) -> None:
        self._directory = directory
        self._policies = policies
        self._queue = queue

    def _ref(self, principal: Principal, region: str, function: str) -> FunctionRef:
        ref = parse_function(function, account_id=principal.account_id, region=region, any_account=True)
        self._directory.resolve(ref)  # ResourceNotFoundException for a missing function or qualifier
        return ref

    def _policy_allows(self, principal: Principal, ref: FunctionRef) -> bool:
        """The function's resource policy decides for a service principal and for another
        account (a destination of another account's function); the function's own account's
        principals need none (identity policies are the authorizer's)."""
        return self._policies.allows(ref, principal)

    def allowed(self, principal: Principal, function: str, *, region: str) -> bool:
        try:
            ref = self._ref(principal, region, function)
        except ServiceError:
            return False
        return self._policy_allows(principal, ref)

    def submit(self, principal: Principal, function: str, payload: bytes, *, region: str) -> str:
        ref = self._ref(principal, region, function)
        if not self._policy_allows(principal, ref):
            raise ServiceError(
                "AccessDeniedException",
                f"{principal.caller_arn} is not authorized to perform: lambda:InvokeFunction on resource: "
                f"{ref.qualified_arn if ref.qualifier else ref.arn}",
                403,
                fields={"Type": "User"},
            )
        if len(payload) > ASYNC_REQUEST_LIMIT:
            raise ServiceError(
                "RequestEntityTooLargeException",
                f"{len(payload)} byte payload is too large for the Event invocation type "
                f"(limit {ASYNC_REQUEST_LIMIT} bytes)",
                413,
                fields={"Type": "User"},
            )
        request_id = str(uuid.uuid4())
        self._queue.enqueue(
            AsyncEvent(request_id, ref.account_id, ref.region, ref.name, ref.qualifier, payload, time.time())
        )
        return request_id
