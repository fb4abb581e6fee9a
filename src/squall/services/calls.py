"""The in-process client: how one service calls another.

```python
out = await calls.call(principal, "sqs", "SendMessage",
                       {"QueueUrl": queue_arn, "MessageBody": body}, region=region)
```

A call goes the way a wire request goes once it is decoded, minus HTTP and
SigV4: the input is validated against the botocore model (`ValidationException`
and the family's other codes, exactly as the wire would answer), the operation
is found in the provider's operation table, the `Authorizer` decides whether
`principal` may make it, the handler runs, and the output dict is returned or
the service's `ServiceError` raised. Inputs and outputs are in the form boto3
uses (blobs as bytes, timestamps as datetimes), so a call reads like the boto3
call it stands for.

The principal is explicit: a user or role session acting through a service
(Lambda reading a package from S3 for the caller of CreateFunction), a role
session (a function's execution role sending its async-invoke outcome to a
destination), or a service principal acting for a resource of an account
(`Principal.for_service("sns.amazonaws.com", account, source_arn=topic_arn)`).
Authorization therefore treats internal calls exactly like external ones.

Typed ports (services/ports.py) remain for hot paths; everything else that
crosses services uses this client.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from squall.lib.ids import new_request_id
from squall.protocol.validate import validate_call
from squall.services.context import Principal, RequestContext
from squall.services.operations import Operation


class Dispatcher(Protocol):
    """What the client dispatches through (`ServiceRegistry`: the gateway's steps 7 and 8)."""

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> Operation: ...

    def run(
        self, op: Operation, ctx: RequestContext, params: dict[str, Any]
    ) -> Awaitable[dict[str, Any]]: ...


class Calls:
    def __init__(self, registry: Dispatcher, endpoint: str) -> None:
        self._registry = registry
        #: The endpoint URLs in outputs point at (what the server's own clients use).
        self.endpoint = endpoint

    async def call(
        self, principal: Principal, service: str, operation: str, params: dict[str, Any], *, region: str
    ) -> dict[str, Any]:
        """Run `service`.`operation` as `principal` in `region`: its output, or the service's
        `ServiceError` (validation, authorization and the operation's own)."""
        validate_call(service, operation, params)
        ctx = RequestContext(new_request_id(), principal, region, service, operation, self.endpoint)
        registry = self._registry
        op = registry.authorize(ctx, params)
        return await registry.run(op, ctx, params)
