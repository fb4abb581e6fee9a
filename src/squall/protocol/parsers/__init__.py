"""Request parsing: one decoder per protocol family, driven by botocore's models.

`parse_request(route, request)` returns the operation's input exactly as a
botocore client takes it (str, int, float, bool, bytes, tz-aware UTC datetime,
lists, dicts, plain JSON for documents). Each (service, operation, protocol)
gets a plan compiled once and cached; decoders for shapes are shared across a
service's operations. Bad input raises `ServiceError` with the code AWS uses
for that protocol; no other exception escapes for malformed requests.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from typing import Protocol as TypingProtocol

from squall.protocol.errors import ServiceError
from squall.protocol.models import service_model
from squall.protocol.parsers._common import Malformed
from squall.protocol.parsers.cbor import CborPlan
from squall.protocol.parsers.json_rpc import JsonPlan
from squall.protocol.parsers.query import QueryCompiler, QueryPlan
from squall.protocol.parsers.rest_json import rest_json_plan
from squall.protocol.parsers.rest_xml import XmlCompiler, rest_xml_plan
from squall.protocol.parsers.tree import TreeCompiler
from squall.protocol.types import HttpRequest, Protocol, Route

__all__ = ["malformed_error", "parse_request"]

#: rest-json services whose front end names malformed bodies differently.
_REST_JSON_CODES = {
    "lambda": "InvalidRequestContentException",
    "apigateway": "BadRequestException",
    "apigatewayv2": "BadRequestException",
}
MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"


class _Plan(TypingProtocol):
    def parse(self, request: HttpRequest, uri_params: dict[str, str]) -> dict[str, Any]: ...


@cache
def _tree_compiler(service: str, cbor: bool) -> TreeCompiler:
    return TreeCompiler(cbor)


@cache
def _query_compiler(service: str) -> QueryCompiler:
    return QueryCompiler()


@cache
def _xml_compiler(service: str) -> XmlCompiler:
    return XmlCompiler()


@cache
def plan_for(service: str, operation: str, protocol: Protocol) -> _Plan:
    """The compiled parser of one operation in one protocol (cached)."""
    op = service_model(service).operation_model(operation)
    if protocol is Protocol.JSON:
        return JsonPlan(op, _tree_compiler(service, False))
    if protocol is Protocol.CBOR:
        return CborPlan(op, _tree_compiler(service, True))
    if protocol is Protocol.REST_JSON:
        return rest_json_plan(op, _tree_compiler(service, False))
    if protocol in (Protocol.QUERY, Protocol.EC2):
        return QueryPlan(op, _query_compiler(service))
    if protocol is Protocol.REST_XML:
        return rest_xml_plan(op, _xml_compiler(service))
    raise ValueError(f"unsupported protocol {protocol!r}")


def parse_request(route: Route, request: HttpRequest) -> dict[str, Any]:
    """The input parameters of `route.operation` carried by `request`."""
    plan = plan_for(route.service, route.operation, route.protocol)
    try:
        return plan.parse(request, route.uri_params)
    except Malformed as exc:
        raise malformed_error(route, exc) from None
    except RecursionError:
        raise malformed_error(route, Malformed("The request is nested too deeply", structural=True)) from None


def malformed_error(route: Route, exc: Malformed) -> ServiceError:
    """AWS's error for malformed input in the route's protocol:
    json/cbor `SerializationException`; rest-json the same except Lambda
    (`InvalidRequestContentException`) and API Gateway (`BadRequestException`);
    query `MalformedQueryString` for a broken envelope, `InvalidParameterValue`
    for a bad value; rest-xml `MalformedXML` for the body, `InvalidArgument`
    for a bad header/query/URI value."""
    p = route.protocol
    if p in (Protocol.JSON, Protocol.CBOR):
        return ServiceError("SerializationException", exc.describe())
    if p is Protocol.REST_JSON:
        return ServiceError(_REST_JSON_CODES.get(route.service, "SerializationException"), exc.describe())
    if p in (Protocol.QUERY, Protocol.EC2):
        if exc.structural:
            return ServiceError("MalformedQueryString", exc.describe())
        where = exc.where()
        message = f"Value for parameter {where} is invalid. {exc.message}" if where else exc.message
        return ServiceError("InvalidParameterValue", message)
    if exc.structural or exc.in_body or not exc.path:
        return ServiceError("MalformedXML", MALFORMED_XML)
    return ServiceError(
        "InvalidArgument", exc.describe(), fields={"ArgumentName": exc.where(), "ArgumentValue": ""}
    )
