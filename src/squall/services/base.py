"""What every service provider looks like, and the context a request carries.

A provider is a class with one method per implemented operation, named in
snake_case after the model's operation name (`GetCallerIdentity` ->
`get_caller_identity`). A method takes the request context and the parsed,
validated input dict, and returns the output dict; it may be sync or async.
Domain errors are raised as `ServiceError`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from squall.lib.tasks import Background
from squall.protocol.errors import ServiceError

Handler = Callable[["RequestContext", dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, where, and which request this is."""

    request_id: str
    #: The signer's account; "" for an anonymous request (S3 only).
    account_id: str
    region: str
    service: str
    operation: str
    access_key_id: str | None
    principal_arn: str | None
    #: The endpoint clients reached us on, e.g. "http://localhost:4566".
    endpoint: str


def snake_case(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


class ServiceProvider:
    """Base class: finds the operation methods once, dispatches by name.

    Operation methods are looked up on the provider itself and then on each
    of `parts` (objects grouping the operations of one resource, e.g. Lambda's
    functions, layers, event source mappings), so a large service is split by
    resource without one giant class. A name defined twice is an error."""

    #: The botocore service name this provider serves.
    service: str = ""
    #: Operations (PUT, with a `streaming` blob payload) whose payload member the
    #: provider takes as the gateway's async `RequestBody` instead of bytes: it must
    #: iterate it to the end before committing anything, and enforce its own size limit.
    streaming_input: frozenset[str] = frozenset()

    def __init__(self, *parts: object) -> None:
        from squall.protocol.models import service_model

        self._handlers: dict[str, tuple[Handler, bool]] = {}
        for op in service_model(self.service).operation_names:
            found = [
                m for m in (getattr(owner, snake_case(op), None) for owner in (self, *parts)) if m is not None
            ]
            if len(found) > 1:
                raise TypeError(f"{self.service}.{op} is implemented more than once")
            if found:
                self._handlers[op] = (found[0], inspect.iscoroutinefunction(found[0]))

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._handlers)

    async def dispatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entry = self._handlers.get(ctx.operation)
        if entry is None:
            raise not_implemented(ctx.service, ctx.operation)
        handler, is_async = entry
        result = handler(ctx, params)
        if is_async:
            result = await result  # type: ignore[misc]
        return result  # type: ignore[return-value]

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
