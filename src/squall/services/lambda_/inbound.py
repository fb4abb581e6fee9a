"""The in-process door into Lambda for other services: deliver an event to a function asynchronously.

Event sources that invoke asynchronously on AWS (S3 notifications, SNS,
EventBridge, async-invoke destinations, CloudWatch Logs subscriptions) call
``LambdaEvents.submit(...)``; no HTTP hop. ``submit`` checks what AWS checks
for that caller — the function (and qualifier) exists and, for a service
principal, the function's resource policy allows it — then commits the event
to the durable async queue, where it runs with the function's retry policy,
event age and destinations exactly like an ``Invoke`` with
``InvocationType=Event``. It returns the event's request id. ``allowed`` is
the same check without the event, for configuration-time validation (S3's
PutBucketNotificationConfiguration refuses a function it may not invoke).

Call it on the event loop thread. Errors are `ServiceError`s as Lambda's API
would return them (``ResourceNotFoundException``, ``AccessDeniedException``).
"""

from __future__ import annotations

import time
import uuid

from squall.engine.asyncq import AsyncEvent, AsyncQueue
from squall.protocol.errors import ServiceError
from squall.services.lambda_.async_invoke import ASYNC_REQUEST_LIMIT
from squall.services.lambda_.functions import Directory
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.services.lambda_.policy import PolicyStore


class LambdaEvents:
    def __init__(self, directory: Directory, policies: PolicyStore, queue: AsyncQueue) -> None:
        self._directory = directory
        self._policies = policies
        self._queue = queue

    def _ref(self, account_id: str, region: str, function: str) -> FunctionRef:
        ref = parse_function(function, account_id=account_id, region=region)
        self._directory.resolve(ref)  # ResourceNotFoundException for a missing function or qualifier
        return ref

    def allowed(
        self,
        account_id: str,
        region: str,
        function: str,
        *,
        principal: str | None = None,
        source_arn: str | None = None,
        source_account: str | None = None,
    ) -> bool:
        """Whether `principal` (a service like "sns.amazonaws.com"; None: the function's own account)
        may invoke `function` (name or ARN, qualified or not) for an event from `source_arn`."""
        try:
            ref = self._ref(account_id, region, function)
        except ServiceError:
            return False
        return principal is None or self._policies.allows(ref, principal, source_arn, source_account)

    def submit(
        self,
        account_id: str,
        region: str,
        function: str,
        payload: bytes,
        *,
        principal: str | None = None,
        source_arn: str | None = None,
        source_account: str | None = None,
    ) -> str:
        """Commit one asynchronous invocation of `function`; its request id."""
        ref = self._ref(account_id, region, function)
        if principal is not None and not self._policies.allows(ref, principal, source_arn, source_account):
            raise ServiceError(
                "AccessDeniedException",
                f"{principal} is not authorized to perform: lambda:InvokeFunction on resource: "
                f"{ref.qualified_arn if ref.qualifier else ref.arn}",
                403,
                fields={"Type": "User"},
            )
        if len(payload) > ASYNC_REQUEST_LIMIT:
            raise ServiceError(
                "RequestTooLargeException",
                f"Request must be smaller than {ASYNC_REQUEST_LIMIT} bytes for the InvokeFunction operation",
                413,
                fields={"Type": "User"},
            )
        request_id = str(uuid.uuid4())
        self._queue.enqueue(
            AsyncEvent(request_id, ref.account_id, ref.region, ref.name, ref.qualifier, payload, time.time())
        )
        return request_id
