"""The `rest-json` protocol: status code, header members, payload or JSON body, and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.model import OperationModel

from squall.protocol.serializers import rest
from squall.protocol.serializers.faults import Fault, base_headers
from squall.protocol.serializers.jsonrpc import REQUEST_ID_HEADER, compiler, dumps, error_document
from squall.protocol.types import HttpResponse

CONTENT_TYPE = "application/json"


def response_plan(service: str, operation: OperationModel) -> Callable[[dict[str, Any], str], HttpResponse]:
    """A function (output, request id) -> response for one rest-json operation."""
    shape = operation.output_shape
    plan = rest.layout(shape)
    trees = compiler(service)
    kind = plan.payload_kind
    payload_conv = None
    body_conv = None
    if kind == "structure":
        payload_conv = trees.compile(plan.payload_shape)
    elif plan.body:
        body_conv = trees.compile_members(shape, plan.body)

    payload_name = plan.payload or ""

    def respond(output: dict[str, Any], request_id: str) -> HttpResponse:
        headers: list[tuple[str, str]] = []
        rest.add_headers(plan, output, headers)
        status = rest.status_code(plan, operation, output)
        if plan.payload is not None and kind != "structure":
            body = rest.raw_payload(plan, output.get(payload_name), headers)
        else:
            if not rest.has_header(headers, "Content-Type"):
                headers.append(("Content-Type", CONTENT_TYPE))
            if kind == "structure":
                value = output.get(payload_name)
                body = b"" if value is None else dumps(value if payload_conv is None else payload_conv(value))
            elif body_conv is not None:
                body = dumps(body_conv(output))
            else:
                body = b""
        headers.append((REQUEST_ID_HEADER, request_id))
        return HttpResponse(status, headers, body)

    return respond


def serialize_error(fault: Fault, request_id: str, service: str | None) -> HttpResponse:
    """`x-amzn-ErrorType` carries the code; the body carries the message (under the key the
    error shape spells, e.g. Lambda's `Message`) and the error's body fields."""
    headers: list[tuple[str, str]] = [
        ("Content-Type", CONTENT_TYPE),
        (REQUEST_ID_HEADER, request_id),
        ("x-amzn-ErrorType", fault.code),
        *base_headers(fault),
    ]
    if fault.shape is not None:
        rest.add_headers(rest.layout(fault.shape), fault.shape_fields(), headers)
    body = dumps(error_document(fault, service, with_type=False))
    return HttpResponse(fault.error.status, headers, body)
