"""Response and error serializers for every AWS protocol family, driven by botocore's models.

`serialize_response` turns an operation's output (as a botocore client would
return it, minus ResponseMetadata) into the HTTP response AWS would send;
`serialize_error` does the same for a ServiceError, in the protocol's own
error format, with or without a known service and operation. Per-operation
plans (which member goes where, compiled value converters) are built once
and cached; the request id travels as each protocol carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.exceptions
from botocore.model import OperationModel, OperationNotFoundError, ServiceModel

from squall.protocol.errors import ServiceError
from squall.protocol.models import service_model
from squall.protocol.serializers import cbor, jsonrpc, query, restjson, restxml
from squall.protocol.serializers.faults import error_shape, resolve
from squall.protocol.types import HttpResponse, Protocol, Route

__all__ = ["error_shape", "serialize_error", "serialize_response"]

Responder = Callable[[dict[str, Any], str], HttpResponse]

_PLANS: dict[Protocol, Callable[[str, OperationModel], Responder]] = {
    Protocol.JSON: jsonrpc.response_plan,
    Protocol.REST_JSON: restjson.response_plan,
    Protocol.QUERY: query.response_plan,
    Protocol.REST_XML: restxml.response_plan,
    Protocol.CBOR: cbor.response_plan,
}


@cache
def _responder(service: str, operation: str, protocol: Protocol) -> Responder:
    build = _PLANS.get(protocol)
    if build is None:
        raise ValueError(f"no response serializer for protocol {protocol.value!r}")
    return build(service, service_model(service).operation_model(operation))


def serialize_response(route: Route, output: dict[str, Any], request_id: str) -> HttpResponse:
    """The HTTP response for `output` of `route.operation`, in `route.protocol`.

    `output` holds str, int, float, bool, bytes (blobs; str is taken as UTF-8),
    datetime or epoch-second timestamps, lists, dicts and JSON documents.
    Streaming and event-stream payloads are passed as bytes. The gateway adds
    Content-Length (except for HEAD, where the output's ContentLength header
    member is sent as modelled).
    """
    return _responder(route.service, route.operation, route.protocol)(output, request_id)


def _lookup(service: str | None, operation: str | None) -> tuple[ServiceModel | None, OperationModel | None]:
    if service is None:
        return None, None
    try:
        model = service_model(service)
    except botocore.exceptions.UnknownServiceError:
        return None, None
    if operation is None:
        return model, None
    try:
        return model, model.operation_model(operation)
    except OperationNotFoundError:
        return model, None


def serialize_error(
    protocol: Protocol,
    error: ServiceError,
    request_id: str,
    *,
    service: str | None = None,
    operation: str | None = None,
) -> HttpResponse:
    """The HTTP response for `error` in `protocol`'s error format.

    With a known service, an error shape named `error.code` (or whose modelled
    error code is `error.code`) types the response: its modelled code is sent
    and `error.fields` are serialized by the shape (fields it does not model
    are sent as plain values). Services flagged awsQueryCompatible get the
    `x-amzn-query-error: Code;Sender|Receiver` header unless the error already
    carries one (a service that needs a legacy code the model lacks, such as
    SQS's `AWS.SimpleQueueService.NonExistentQueue`, passes it in
    `error.headers`). `error.status` is the HTTP status as given.
    """
    model, op = _lookup(service, operation)
    known = service if model is not None else None
    fault = resolve(model, error)
    if protocol is Protocol.JSON:
        return jsonrpc.serialize_error(fault, request_id, known)
    if protocol is Protocol.REST_JSON:
        return restjson.serialize_error(fault, request_id, known)
    if protocol is Protocol.QUERY:
        return query.serialize_error(fault, request_id, known)
    if protocol is Protocol.REST_XML:
        return restxml.serialize_error(fault, request_id, known, op)
    if protocol is Protocol.CBOR:
        return cbor.serialize_error(fault, request_id, known)
    return query.serialize_ec2_error(fault, request_id, known)
