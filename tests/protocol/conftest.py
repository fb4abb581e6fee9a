"""Routing for the parser tests: the real router turns a captured request
into a Route, so parser and router are tested against each other."""

from __future__ import annotations

from functools import cache

from botocore.awsrequest import AWSRequest
from botocore.serialize import create_serializer

from squall.protocol.models import service_model
from squall.protocol.router import Router
from squall.protocol.types import HttpRequest, Protocol, Route
from tests.protocol import wire


@cache
def _router() -> Router:
    return Router()


def route_for(service: str, operation: str, protocol: Protocol, request: HttpRequest) -> Route:
    """Route a captured request with the real router; asserts it reaches `operation`
    (or, for a deprecated operation the wire cannot tell from its successor, the successor)
    in the same protocol, and keeps the router's URI labels."""
    router = _router()
    route = router.route(request)
    assert route.service == service, (route, service, operation)
    assert route.operation == operation or (service, operation) in router.shadowed, (route, operation)
    assert route.protocol is protocol, (route.protocol, protocol)
    return Route(service, operation, protocol, route.uri_params)


def request_via_serializer(service: str, operation: str, protocol: Protocol, params: dict) -> HttpRequest:  # type: ignore[type-arg]
    """botocore's serializer for a protocol its client would not pick (no
    handlers, no signing): CloudWatch's json and query variants."""
    model = service_model(service)
    op = model.operation_model(operation)
    serializer = create_serializer(protocol.value, include_validation=False)
    ser = serializer.serialize_to_request(params, op)
    req = AWSRequest(
        method=ser["method"],
        url=wire.ENDPOINT + ser["url_path"],
        data=ser["body"],
        headers=ser["headers"],
        params=ser["query_string"] if isinstance(ser["query_string"], dict) else None,
    )
    return wire.to_http_request(req.prepare())
