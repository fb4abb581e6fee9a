"""Test-local routing for the parser tests: derive a Route (operation and
decoded URI labels) from a captured request, the way the real router will."""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import parse_qsl, unquote

from botocore.awsrequest import AWSRequest
from botocore.serialize import create_serializer

from squall.protocol.models import service_model
from squall.protocol.types import HttpRequest, Protocol, Route
from tests.protocol import wire


@cache
def _template(service: str, operation: str) -> tuple[re.Pattern[str], list[str], list[tuple[str, str]]]:
    uri = service_model(service).operation_model(operation).http.get("requestUri", "/")
    path, _, query = uri.partition("?")
    names: list[str] = []
    regex = ""
    for literal, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", path):
        regex += re.escape(literal)
        if label:
            greedy = label.endswith("+")
            names.append(label.rstrip("+"))
            regex += "(.+)" if greedy else "([^/]+)"
    literals = parse_qsl(query, keep_blank_values=True)
    return re.compile(regex + "/?"), names, literals


def match_rest(service: str, operation: str, request: HttpRequest) -> dict[str, str] | None:
    """URI labels of `operation` if the request matches its template."""
    pattern, names, literals = _template(service, operation)
    m = pattern.fullmatch(request.path)
    if m is None:
        return None
    items = request.query_items()
    for key, value in literals:
        if (key, value) not in items and not (value == "" and any(k == key for k, _ in items)):
            return None
    return {name: unquote(raw) for name, raw in zip(names, m.groups(), strict=True)}


def route_for(service: str, operation: str, protocol: Protocol, request: HttpRequest) -> Route:
    """Route a captured request; asserts it reaches `operation`."""
    if protocol is Protocol.JSON:
        target = request.headers["x-amz-target"]
        assert target.rsplit(".", 1)[1] == operation
    elif protocol is Protocol.CBOR:
        assert request.path.rsplit("/", 1)[1] == operation
    elif protocol is Protocol.QUERY:
        action = dict(parse_qsl(request.body.decode() or request.query_string)).get("Action")
        assert action == operation
    else:
        labels = match_rest(service, operation, request)
        assert labels is not None, f"{request.method} {request.path}?{request.query_string} does not match"
        return Route(service, operation, protocol, labels)
    return Route(service, operation, protocol, {})


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
