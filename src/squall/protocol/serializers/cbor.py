"""The `smithy-rpc-v2-cbor` protocol: a CBOR map body, tag-1 epoch timestamps, `__type` errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import cbor2
from botocore.model import OperationModel, Shape

from squall.protocol.serializers import values as v
from squall.protocol.serializers.faults import Fault, base_headers
from squall.protocol.serializers.jsonrpc import REQUEST_ID_HEADER
from squall.protocol.serializers.tree import Conv, TreeCompiler
from squall.protocol.types import HttpResponse

CONTENT_TYPE = "application/cbor"
SMITHY_PROTOCOL = ("smithy-protocol", "rpc-v2-cbor")


def _timestamp(value: Any) -> cbor2.CBORTag:
    return cbor2.CBORTag(1, v.epoch_seconds(value))


def _cbor_scalar(shape: Shape) -> Conv | None:
    kind = shape.type_name
    if kind == "timestamp":
        return _timestamp
    if kind == "blob":
        return v.blob_bytes
    return None


@cache
def compiler(service: str) -> TreeCompiler:
    return TreeCompiler(_cbor_scalar, rename=False)


def _headers(request_id: str) -> list[tuple[str, str]]:
    return [("Content-Type", CONTENT_TYPE), SMITHY_PROTOCOL, (REQUEST_ID_HEADER, request_id)]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(x) for k, x in value.items() if x is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(x) for x in value]
    if hasattr(value, "isoformat"):
        return _timestamp(value)
    return value


def response_plan(service: str, operation: OperationModel) -> Callable[[dict[str, Any], str], HttpResponse]:
    """A function (output, request id) -> response; no output shape means an empty body."""
    shape = operation.output_shape
    conv = compiler(service).compile(shape) if shape is not None else None

    def respond(output: dict[str, Any], request_id: str) -> HttpResponse:
        if shape is None:
            return HttpResponse(200, _headers(request_id), b"")
        value = {k: x for k, x in output.items() if x is not None} if conv is None else conv(output)
        return HttpResponse(200, _headers(request_id), cbor2.dumps(value))

    return respond


def serialize_error(fault: Fault, request_id: str, service: str | None) -> HttpResponse:
    doc: dict[str, Any] = {"__type": fault.type_name, fault.message_key: fault.error.message}
    for key, value in _plain(fault.extra_fields()).items():
        doc.setdefault(key, value)
    known = fault.shape_fields()
    if known and fault.shape is not None and service is not None:
        doc.update(compiler(service).compile_members(fault.shape, list(known))(known))
    headers = [*_headers(request_id), *base_headers(fault, query_compatible=True)]
    return HttpResponse(fault.error.status, headers, cbor2.dumps(doc))
