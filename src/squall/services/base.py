"""What every service provider looks like.

A provider serves one botocore service model. Its operations are methods
marked with `@operation("OperationName")` (services/operations.py), on the
provider itself or on its *parts*, objects grouping one resource's operations
(a large service is split by resource rather than grown into one class). A
method takes the request context and the parsed, validated input dict and
returns the output dict; it may be sync or async. Domain errors are raised as
`ServiceError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from squall.lib.tasks import Background
from squall.protocol.errors import ServiceError
from squall.services.context import Principal, PrincipalKind, RequestContext
from squall.services.operations import Operation, OperationTable, collect
from squall.storage import StorageFull  # re-exported: the gateway reaches storage through services

__all__ = [
    "Principal",
    "PrincipalKind",
    "RequestContext",
    "ServiceProvider",
    "StorageFull",
    "not_implemented",
    "unavailable",
]


class ServiceProvider:
    """Base class: collects the operation table once, dispatches through it."""

    #: The botocore service name this provider serves.
    service: str = ""
    #: Operations (PUT, with a `streaming` blob payload) whose payload member the
    #: provider takes as the gateway's async `RequestBody` instead of bytes: it must
    #: iterate it to the end before committing anything, and enforce its own size limit.
    streaming_input: frozenset[str] = frozenset()
    #: Operations a worker process may serve itself (squall/worker.py) instead of passing
    #: the connection to the primary: they need no in-process state of the primary.
    worker_operations: frozenset[str] = frozenset()

    def __init__(self, *parts: object) -> None:
        self.table: OperationTable = collect(self.service, (self, *parts))

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self.table)

    def operation(self, name: str) -> Operation:
        """The table entry of `name`; NotImplemented (501) when this provider does not serve it."""
        found = self.table.get(name)
        if found is None:
            raise not_implemented(self.service, name)
        return found

    async def run(self, op: Operation, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Run `op`'s handler (authorized already). A provider overrides this to set up what
        every one of its operations needs (S3: the caller's identity for event records)."""
        result = op.handler(ctx, params)
        if op.is_async:
            result = await result  # type: ignore[misc]
        return result  # type: ignore[return-value]

    async def dispatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Run `ctx.operation` without authorization (a provider on its own, in unit tests);
        requests and in-process calls go through `ServiceRegistry.dispatch`."""
        return await self.run(self.operation(ctx.operation), ctx, params)

    def background(self) -> Sequence[Background]:
        """The provider's background components, in start order (the server's `Supervisor`
        starts them in this order, after the providers declared before this one, and stops
        them in reverse)."""
        return ()


def not_implemented(service: str, operation: str) -> ServiceError:
    return ServiceError(
        "NotImplemented",
        f"Squall does not implement the {operation} operation of {service} yet.",
        501,
        sender_fault=False,
    )


#: Each service's error for a temporary failure on the server's side (its model's, else the
#: query/JSON protocols' common `ServiceUnavailable`): (code, HTTP status, message).
_UNAVAILABLE: dict[str, tuple[str, int, str]] = {
    "dynamodb": ("InternalServerError", 500, "Internal server error"),
    "dynamodbstreams": ("InternalServerError", 500, "Internal server error"),
    "s3": ("ServiceUnavailable", 503, "Service is unable to handle request."),
    "sns": ("InternalError", 500, "Internal error"),
    "lambda": ("ServiceException", 500, "The AWS Lambda service encountered an internal error."),
    "iam": ("ServiceFailure", 500, "The request processing has failed because of an unknown error."),
    "logs": ("ServiceUnavailableException", 500, "The service cannot complete the request."),
    "secretsmanager": ("InternalServiceError", 500, "An error occurred on the server side."),
    "ssm": ("InternalServerError", 500, "An error occurred on the server side."),
    "events": ("InternalException", 500, "An internal error occurred."),
    "apigateway": ("ServiceUnavailableException", 503, "The service is unavailable. Try again later."),
}
_COMMON_UNAVAILABLE = (
    "ServiceUnavailable",
    503,
    "The request has failed due to a temporary failure of the server.",
)


def unavailable(service: str | None) -> ServiceError:
    """`service`'s own error for a write refused for a transient server-side reason (the data
    directory's disk is full: `storage.StorageFull`); SDKs retry it."""
    code, status, message = _UNAVAILABLE.get(service or "", _COMMON_UNAVAILABLE)
    fields = {"Type": "Service"} if service == "lambda" else None
    return ServiceError(code, message, status, sender_fault=False, fields=fields)
