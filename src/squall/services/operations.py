"""The operation table: which method serves which operation of a service's model.

A provider, or one of its parts (an object grouping one resource's operations),
marks each operation method it implements:

```python
class MessagesApi:
    @operation("SendMessage")
    def send_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]: ...
```

`ServiceProvider` collects the marked methods of itself and its parts into an
`OperationTable` when it is built (an operation marked twice, or a name the
botocore model does not have, is an error at start-up). The gateway and the
in-process client (`calls.py`) both find an operation's handler there, so the
table is the one list of what Squall serves; tools read it
(`ServiceProvider.table`) and so will the authorizer: each entry carries the IAM
action it is authorized as (`<prefix>:<Operation>` unless the decorator says
otherwise, e.g. Lambda's `Invoke` is `lambda:InvokeFunction`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from squall.services.context import RequestContext

Handler = Callable[["RequestContext", dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]
F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__squall_operation__"

#: IAM action prefixes where they differ from the model's signing name.
_IAM_PREFIX = {"cloudwatch": "cloudwatch", "dynamodbstreams": "dynamodb"}


@dataclass(frozen=True)
class Mark:
    """What `@operation` records on a method."""

    name: str
    action: str | None


@dataclass(frozen=True)
class Operation:
    """One row of a provider's table."""

    service: str
    name: str
    #: The IAM action a call is authorized as, e.g. "sqs:SendMessage".
    action: str
    #: The bound method: `handler(ctx, params)` -> output dict (or an awaitable of it).
    handler: Handler
    is_async: bool

    @property
    def where(self) -> str:
        """`module.Class.method`, for tools and error messages."""
        fn = getattr(self.handler, "__func__", self.handler)
        return f"{fn.__module__}.{fn.__qualname__}"


def operation(name: str, *, action: str | None = None) -> Callable[[F], F]:
    """Mark a method as the handler of the model's operation `name` (`action`: its IAM
    action when it is not `<service prefix>:<name>`)."""

    def mark(fn: F) -> F:
        setattr(fn, _MARK, Mark(name, action))
        return fn

    return mark


def iam_prefix(service: str) -> str:
    from squall.protocol.models import service_model

    return _IAM_PREFIX.get(service) or service_model(service).signing_name


OperationTable = Mapping[str, Operation]


def collect(service: str, owners: Iterable[object]) -> dict[str, Operation]:
    """The table of `service` from the marked methods of `owners`."""
    from squall.protocol.models import service_model

    known = set(service_model(service).operation_names)
    prefix = iam_prefix(service)
    table: dict[str, Operation] = {}
    for owner in owners:
        for attr in dir(type(owner)):
            mark = _mark_of(type(owner), attr)
            if mark is None:
                continue
            if mark.name not in known:
                raise TypeError(f"{type(owner).__name__}.{attr}: {service} has no operation {mark.name}")
            if mark.name in table:
                raise TypeError(f"{service}.{mark.name} is implemented more than once")
            handler = getattr(owner, attr)
            table[mark.name] = Operation(
                service,
                mark.name,
                mark.action or f"{prefix}:{mark.name}",
                handler,
                inspect.iscoroutinefunction(handler),
            )
    return table


def _mark_of(cls: type, attr: str) -> Mark | None:
    """The mark of `cls.attr`, or of the method it overrides (an override serves the same
    operation without repeating the decorator)."""
    for klass in cls.__mro__:
        found = klass.__dict__.get(attr)
        if found is not None:
            mark = getattr(found, _MARK, None)
            if isinstance(mark, Mark):
                return mark
    return None
