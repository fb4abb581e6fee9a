"""The `json` protocol (JSON 1.0 / 1.1 over POST): bodies, errors, and the JSON value rules
that rest-json shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from botocore.model import OperationModel, ServiceModel, Shape

from squall.protocol.models import service_model
from squall.protocol.serializers import values as v
from squall.protocol.serializers.faults import Fault, base_headers
from squall.protocol.serializers.rest import EVENT_STREAM_CONTENT_TYPE
from squall.protocol.serializers.tree import Conv, TreeCompiler
from squall.protocol.types import HttpResponse

REQUEST_ID_HEADER = "x-amzn-RequestId"


def _json_scalar(shape: Shape) -> Conv | None:
    kind = shape.type_name
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
        if fmt == "unixTimestamp":
            return v.epoch_seconds
        return lambda value: v.timestamp_text(value, fmt)
    if kind == "blob":
        return v.b64
    if kind in ("float", "double"):
        return v.json_float
    return None


@cache
def compiler(service: str) -> TreeCompiler:
    """JSON value converters for one service's shapes (json and rest-json bodies)."""
    return TreeCompiler(_json_scalar, rename=True)


def content_type(model: ServiceModel | None) -> str:
    version = model.metadata.get("jsonVersion", "1.0") if model is not None else "1.0"
    return f"application/x-amz-json-{version}"


def plain(value: Any) -> Any:
    """A JSON-ready copy of an unmodelled value (e.g. an error field no shape describes)."""
    if isinstance(value, dict):
        return {str(k): plain(x) for k, x in value.items() if x is not None}
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return v.b64(value)
    if isinstance(value, dt.datetime):
        return v.epoch_seconds(value)
    if isinstance(value, float):
        return v.json_float(value)
    return value


def _verbatim_blob(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):  # only inside a `Verbatim` value
        return v.b64(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_verbatim_blob)


def error_document(fault: Fault, service: str | None, *, with_type: bool = True) -> dict[str, Any]:
    """The JSON error body: `__type`, the message and the error's fields (modelled ones by shape)."""
    doc: dict[str, Any] = {}
    if with_type:
        doc["__type"] = fault.type_name
    doc[fault.message_key] = fault.error.message
    extra = fault.extra_fields()
    if extra:
        for key, value in plain(extra).items():
            doc.setdefault(key, value)
    known = fault.shape_fields()
    if known and fault.shape is not None and service is not None:
        body_names = [n for n in known if "location" not in fault.shape.members[n].serialization]
        conv = compiler(service).compile_members(fault.shape, body_names)
        doc.update(conv(known))
    return doc


def serialize_error(fault: Fault, request_id: str, service: str | None) -> HttpResponse:
    model = service_model(service) if service is not None else None
    headers = [
        ("Content-Type", content_type(model)),
        (REQUEST_ID_HEADER, request_id),
        ("x-amzn-ErrorType", fault.type_name),
        *base_headers(fault, query_compatible=True),
    ]
    return HttpResponse(fault.error.status, headers, dumps(error_document(fault, service)))


def response_plan(service: str, operation: OperationModel) -> Callable[[dict[str, Any], str], HttpResponse]:
    """A function (output, request id) -> response for one json-protocol operation."""
    ctype = content_type(operation.service_model)
    shape = operation.output_shape
    conv = compiler(service).compile(shape) if shape is not None else None
    stream_member = shape.event_stream_name if shape is not None else None

    def respond(output: dict[str, Any], request_id: str) -> HttpResponse:
        if stream_member is not None and isinstance(output.get(stream_member), (bytes, bytearray)):
            raw = bytes(output[stream_member])
            headers = [("Content-Type", EVENT_STREAM_CONTENT_TYPE), (REQUEST_ID_HEADER, request_id)]
            return HttpResponse(200, headers, raw)
        body = b"{}" if shape is None else dumps(output if conv is None else conv(output))
        return HttpResponse(200, [("Content-Type", ctype), (REQUEST_ID_HEADER, request_id)], body)

    return respond
