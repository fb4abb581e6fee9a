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

__all__ = ["Principal", "PrincipalKind", "RequestContext", "ServiceProvider", "not_implemented"]


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
