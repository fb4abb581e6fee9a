"""Every REST operation of every served model is answered with its modelled `http.responseCode`
(rest-json and rest-xml), through our serializer and botocore's own parser; an output's
`statusCode` member, when the provider sets it, wins (Lambda Invoke 202/204, DeleteFunction 204).
The audit: docs/audits/response-codes.md."""

from __future__ import annotations

import pytest

from squall.protocol.models import SERVED_SERVICES, service_model
from squall.protocol.serializers import serialize_response
from squall.protocol.types import Protocol, Route
from tests.protocol import wire

REST = {"rest-json": Protocol.REST_JSON, "rest-xml": Protocol.REST_XML}


def _cases() -> list[tuple[str, str, int]]:
    out = []
    for service in SERVED_SERVICES:
        model = service_model(service)
        if model.protocol not in REST:
            continue
        for name in model.operation_names:
            op = model.operation_model(name)
            out.append((service, name, int(op.http.get("responseCode", 200))))
    return out


CASES = _cases()


def test_the_audit_covers_every_non_200_code() -> None:
    assert {c for _, _, c in CASES} >= {200, 201, 202, 204}
    assert len([c for c in CASES if c[2] != 200]) > 100


@pytest.mark.parametrize(("service", "operation", "code"), CASES, ids=[f"{s}.{o}" for s, o, _ in CASES])
def test_modelled_response_code(service: str, operation: str, code: int) -> None:
    protocol = REST[service_model(service).protocol]
    response = serialize_response(Route(service, operation, protocol), {}, "req-1")
    assert response.status == code
    if code == 204:
        assert response.body == b""  # RFC 9110: a 204 carries no content
    parsed = wire.parse_response(service, operation, response)
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == code


def test_status_member_wins() -> None:
    for status in (202, 204):
        response = serialize_response(
            Route("lambda", "DeleteFunction", Protocol.REST_JSON), {"StatusCode": status}, "r"
        )
        assert response.status == status and response.body == b""
        assert wire.parse_response("lambda", "DeleteFunction", response)["StatusCode"] == status
