"""The `rest-xml` protocol (S3): header members, payloads, XML documents, and `<Error>` errors."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.model import OperationModel, ServiceModel

from squall.protocol.serializers import rest
from squall.protocol.serializers import values as v
from squall.protocol.serializers.faults import Fault, base_headers
from squall.protocol.serializers.query import error_children
from squall.protocol.serializers.xmlwriter import XmlCompiler, element_name, namespace_attr
from squall.protocol.types import HttpResponse

CONTENT_TYPE = "application/xml"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# The document namespace of services whose botocore model does not carry `xmlNamespace`.
_SERVICE_NAMESPACES = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}

# Root elements of S3 outputs without a payload member. botocore's models drop the Smithy
# @xmlName of output shapes (its parser ignores the root name), so they are listed here as AWS
# documents them. GetX outputs not listed take the root of the matching PutX input payload.
_ROOTS = {
    ("s3", "CompleteMultipartUpload"): "CompleteMultipartUploadResult",
    ("s3", "CreateMultipartUpload"): "InitiateMultipartUploadResult",
    ("s3", "CreateSession"): "CreateSessionResult",
    ("s3", "DeleteObjects"): "DeleteResult",
    ("s3", "GetBucketLocation"): "LocationConstraint",
    ("s3", "GetObjectAttributes"): "GetObjectAttributesResponse",
    ("s3", "ListBucketAnalyticsConfigurations"): "ListBucketAnalyticsConfigurationResult",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "ListBucketIntelligentTieringConfigurationsOutput",
    ("s3", "ListBucketInventoryConfigurations"): "ListInventoryConfigurationsResult",
    ("s3", "ListBucketMetricsConfigurations"): "ListMetricsConfigurationsResult",
    ("s3", "ListBuckets"): "ListAllMyBucketsResult",
    ("s3", "ListDirectoryBuckets"): "ListAllMyDirectoryBucketsResult",
    ("s3", "ListMultipartUploads"): "ListMultipartUploadsResult",
    ("s3", "ListObjectVersions"): "ListVersionsResult",
    ("s3", "ListObjects"): "ListBucketResult",
    ("s3", "ListObjectsV2"): "ListBucketResult",
    ("s3", "ListParts"): "ListPartsResult",
}


def host_id(request_id: str) -> str:
    """A stable `x-amz-id-2` for a request id (S3's extended request id is opaque base64)."""
    return base64.b64encode(hashlib.sha256(request_id.encode()).digest()).decode()


def request_id_headers(request_id: str) -> list[tuple[str, str]]:
    return [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id))]


@cache
def compiler(service: str) -> XmlCompiler:
    return XmlCompiler()


def default_namespace(model: ServiceModel | None, service: str | None) -> str:
    ns = model.metadata.get("xmlNamespace") if model is not None else None
    if isinstance(ns, dict):
        ns = ns.get("uri")
    return str(ns or _SERVICE_NAMESPACES.get(service or "", ""))


def root_name(service: str, operation: OperationModel) -> str:
    """The document element AWS uses for an operation's output body."""
    shape = operation.output_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload is not None:
        member = shape.members[payload]
        return str(member.serialization.get("name", member.name))
    listed = _ROOTS.get((service, operation.name))
    if listed is not None:
        return listed
    model = operation.service_model
    if operation.name.startswith("Get"):
        put = "Put" + operation.name[3:]
        if put in model.operation_names:
            put_input = model.operation_model(put).input_shape
            put_payload = put_input.serialization.get("payload") if put_input is not None else None
            if put_payload is not None:
                member = put_input.members[put_payload]
                return str(member.serialization.get("name", put_payload))
    return f"{operation.name}Result"


def response_plan(service: str, operation: OperationModel) -> Callable[[dict[str, Any], str], HttpResponse]:
    """A function (output, request id) -> response for one rest-xml operation."""
    shape = operation.output_shape
    plan = rest.layout(shape)
    head_request = operation.http.get("method") == "HEAD"
    skip = frozenset() if head_request else frozenset({"content-length"})
    kind = plan.payload_kind
    root = root_name(service, operation) if shape is not None else ""
    ns_uri = default_namespace(operation.service_model, service)
    xmlns = f' xmlns="{v.xml_attr(ns_uri)}"' if ns_uri else ""
    trees = compiler(service)
    writer = None
    text_root = None
    if kind == "structure":
        own_ns = namespace_attr(plan.payload_shape)
        xmlns = own_ns or xmlns
        writer = trees.struct(plan.payload_shape)
    elif plan.payload is None and plan.body:
        members = shape.members
        if len(plan.body) == 1 and members[plan.body[0]].type_name not in ("structure", "list", "map"):
            only = plan.body[0]
            if element_name(members[only], only) == root:
                text_root = only
        writer = trees.struct(shape, only=plan.body)

    payload_name = plan.payload or ""

    def respond(output: dict[str, Any], request_id: str) -> HttpResponse:
        headers = request_id_headers(request_id)
        rest.add_headers(plan, output, headers, skip=skip)
        status = rest.status_code(plan, operation, output)
        if plan.payload is not None and kind != "structure":
            body = rest.raw_payload(plan, output.get(payload_name), headers)
            return HttpResponse(status, headers, b"" if head_request else body)
        if not rest.has_header(headers, "Content-Type"):
            headers.append(("Content-Type", CONTENT_TYPE))
        value = output.get(payload_name) if kind == "structure" else output
        if writer is None or value is None or head_request:
            return HttpResponse(status, headers, b"")
        if text_root is not None:
            item = output.get(text_root)
            text = "" if item is None else v.xml_text(str(item))
            return HttpResponse(status, headers, f"{DECLARATION}<{root}{xmlns}>{text}</{root}>".encode())
        out = [DECLARATION]
        writer(out, root, xmlns, value)
        return HttpResponse(status, headers, "".join(out).encode())

    return respond


def serialize_error(
    fault: Fault, request_id: str, service: str | None, operation: OperationModel | None
) -> HttpResponse:
    """S3's `<Error><Code/><Message/>fields<RequestId/><HostId/></Error>`; no body for HEAD."""
    headers = request_id_headers(request_id)
    headers.append(("Content-Type", CONTENT_TYPE))
    headers.extend(base_headers(fault))
    if fault.shape is not None:
        rest.add_headers(rest.layout(fault.shape), fault.shape_fields(), headers)
    if operation is not None and operation.http.get("method") == "HEAD":
        return HttpResponse(fault.error.status, headers, b"")
    out = [
        DECLARATION,
        f"<Error><Code>{v.xml_text(fault.code)}</Code><Message>{v.xml_text(fault.error.message)}</Message>",
    ]
    error_children(fault, service, out)
    out.append(
        f"<RequestId>{v.xml_text(request_id)}</RequestId><HostId>{host_id(request_id)}</HostId></Error>"
    )
    return HttpResponse(fault.error.status, headers, "".join(out).encode())
