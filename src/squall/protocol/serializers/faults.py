"""Which modelled error shape a ServiceError is, and the codes it travels under."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.model import ServiceModel, Shape

from squall.protocol.errors import ServiceError

QUERY_ERROR_HEADER = "x-amzn-query-error"


@dataclass(frozen=True)
class Fault:
    """A ServiceError resolved against the service model.

    `code` is the code clients see (the shape's modelled `error.code`, else
    the ServiceError's code); `type_name` is what JSON and CBOR put in
    `__type` (the shape name); `shape` is the error shape, if modelled;
    `message_key` is the body key for the message ("message" unless the shape
    spells it "Message"); `query_error` is the `x-amzn-query-error` value for
    awsQueryCompatible services (legacy query code;Sender|Receiver).
    """

    code: str
    type_name: str
    shape: Shape | None
    message_key: str
    query_error: str | None
    error: ServiceError

    @property
    def fault_type(self) -> str:
        return "Sender" if self.error.sender_fault else "Receiver"

    def extra_fields(self) -> dict[str, Any]:
        """Fields that are not members of the error shape (sent as-is, e.g. S3's BucketName)."""
        fields = self.error.fields
        if self.shape is None:
            return dict(fields)
        members = self.shape.members
        return {k: v for k, v in fields.items() if k not in members and v is not None}

    def shape_fields(self) -> dict[str, Any]:
        """Fields that are members of the error shape, without the message member."""
        if self.shape is None:
            return {}
        members = self.shape.members
        return {
            k: v
            for k, v in self.error.fields.items()
            if k in members and k != self.message_key and v is not None
        }


@cache
def _by_code(model: ServiceModel) -> dict[str, Shape]:
    table: dict[str, Shape] = {}
    for shape in model.error_shapes:
        table.setdefault(shape.error_code, shape)
    for shape in model.error_shapes:
        table[shape.name] = shape
    return table


def error_shape(model: ServiceModel | None, code: str) -> Shape | None:
    """The error shape named `code`, else the one whose modelled error code is `code`."""
    if model is None:
        return None
    return _by_code(model).get(code)


def _message_key(shape: Shape | None) -> str:
    if shape is not None:
        for name in ("message", "Message"):
            if name in shape.members:
                return str(shape.members[name].serialization.get("name", name))
    return "message"


def resolve(model: ServiceModel | None, error: ServiceError) -> Fault:
    shape = error_shape(model, error.code)
    code = str(shape.error_code) if shape is not None else error.code
    type_name = str(shape.name) if shape is not None else error.code
    query_error = None
    if model is not None and model.metadata.get("awsQueryCompatible") is not None:
        fault = "Sender" if error.sender_fault else "Receiver"
        query_error = f"{code};{fault}"
    return Fault(
        code=code,
        type_name=type_name,
        shape=shape,
        message_key=_message_key(shape),
        query_error=query_error,
        error=error,
    )


def base_headers(fault: Fault, *, query_compatible: bool = False) -> list[tuple[str, str]]:
    """Headers the provider set on the error; for JSON and CBOR (`query_compatible`), also the
    query-compatibility header of awsQueryCompatible services unless the provider set it."""
    headers = list(fault.error.headers.items())
    if not query_compatible or fault.query_error is None:
        return headers
    if not any(k.lower() == QUERY_ERROR_HEADER for k, _ in headers):
        headers.append((QUERY_ERROR_HEADER, fault.query_error))
    return headers
