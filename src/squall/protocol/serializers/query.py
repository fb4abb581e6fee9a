"""The `query` protocol (and EC2's error envelope): XML results and `<ErrorResponse>` errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.model import OperationModel, ServiceModel

from squall.protocol.models import service_model
from squall.protocol.serializers import values as v
from squall.protocol.serializers.faults import Fault, base_headers
from squall.protocol.serializers.xmlwriter import XmlCompiler
from squall.protocol.types import HttpResponse

CONTENT_TYPE = "text/xml"
REQUEST_ID_HEADER = "x-amzn-RequestId"


@cache
def compiler(service: str) -> XmlCompiler:
    return XmlCompiler()


def _xmlns(model: ServiceModel | None) -> str:
    ns = model.metadata.get("xmlNamespace") if model is not None else None
    return f' xmlns="{v.xml_attr(str(ns))}"' if ns else ""


def _metadata(request_id: str) -> str:
    return f"<ResponseMetadata><RequestId>{v.xml_text(request_id)}</RequestId></ResponseMetadata>"


def response_plan(service: str, operation: OperationModel) -> Callable[[dict[str, Any], str], HttpResponse]:
    """`<OpResponse xmlns=ns><OpResult>members</OpResult><ResponseMetadata/></OpResponse>`."""
    shape = operation.output_shape
    root = f"{operation.name}Response"
    head = f"<{root}{_xmlns(operation.service_model)}>"
    tail = f"</{root}>"
    writer = compiler(service).struct(shape) if shape is not None else None
    wrapper = shape.serialization.get("resultWrapper") if shape is not None else None

    def respond(output: dict[str, Any], request_id: str) -> HttpResponse:
        out = [head]
        if writer is not None:
            if wrapper:
                writer(out, wrapper, "", output)
            else:
                writer.children(out, output)
        out.append(_metadata(request_id))
        out.append(tail)
        headers = [("Content-Type", CONTENT_TYPE), (REQUEST_ID_HEADER, request_id)]
        return HttpResponse(200, headers, "".join(out).encode())

    return respond


def error_children(fault: Fault, service: str | None, out: list[str]) -> None:
    """The error's fields as child elements: modelled ones by the error shape, others as text."""
    shape = fault.shape
    known = {
        k: x
        for k, x in fault.shape_fields().items()
        if shape is not None and "location" not in shape.members[k].serialization
    }
    if known and shape is not None and service is not None:
        compiler(service).struct(shape, only=tuple(known)).children(out, known)
    for key, value in fault.extra_fields().items():
        if key in ("Code", "Message", "Type", "RequestId", "HostId"):
            continue
        tag = v.xml_text(key)
        out.append(f"<{tag}>{_plain_text(value)}</{tag}>")


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return v.bool_text(value)
    if isinstance(value, (bytes, bytearray)):
        return v.b64(value)
    if isinstance(value, (int, float)):
        return v.number_text(value)
    if hasattr(value, "isoformat"):
        return v.iso8601(value)
    return v.xml_text(str(value))


def serialize_error(fault: Fault, request_id: str, service: str | None) -> HttpResponse:
    """`<ErrorResponse><Error><Type/><Code/><Message/>fields</Error><RequestId/></ErrorResponse>`."""
    model = service_model(service) if service is not None else None
    out = [
        f"<ErrorResponse{_xmlns(model)}><Error>",
        f"<Type>{fault.fault_type}</Type>",
        f"<Code>{v.xml_text(fault.code)}</Code>",
        f"<Message>{v.xml_text(fault.error.message)}</Message>",
    ]
    error_children(fault, service, out)
    out.append(f"</Error><RequestId>{v.xml_text(request_id)}</RequestId></ErrorResponse>")
    headers = [("Content-Type", CONTENT_TYPE), (REQUEST_ID_HEADER, request_id), *base_headers(fault)]
    return HttpResponse(fault.error.status, headers, "".join(out).encode())


def serialize_ec2_error(fault: Fault, request_id: str, service: str | None) -> HttpResponse:
    """EC2's envelope: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`."""
    out = [
        "<Response><Errors><Error>",
        f"<Code>{v.xml_text(fault.code)}</Code>",
        f"<Message>{v.xml_text(fault.error.message)}</Message>",
    ]
    error_children(fault, service, out)
    out.append(f"</Error></Errors><RequestID>{v.xml_text(request_id)}</RequestID></Response>")
    headers = [("Content-Type", CONTENT_TYPE), (REQUEST_ID_HEADER, request_id), *base_headers(fault)]
    return HttpResponse(fault.error.status, headers, "".join(out).encode())
