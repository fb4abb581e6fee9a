"""Errors: every modelled error shape of every served service, in every protocol the service
speaks, parsed by botocore the way its endpoint does (generic parse, then the modelled
fields by the shape for Error.Code); generic codes with no service; boto3-level exceptions.

Normalisations (besides the round-trip ones in test_serialize_roundtrip): in XML protocols
the message travels as the envelope's <Message>, so a lower-case `message` member is not
read back as a modelled field (Error.Message carries it); S3 HEAD errors have no body, so
botocore reports the HTTP status as the code; botocore reads an empty XML <Message> as None.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.protocol.errors import ServiceError, internal_failure
from squall.protocol.models import SERVED_SERVICES, protocols, service_model
from squall.protocol.serializers import error_shape, serialize_error, serialize_response
from squall.protocol.types import HttpResponse, Protocol, Route
from tests.protocol import strategies, wire
from tests.protocol.test_serialize_roundtrip import _XML_INVALID, expected

REQUEST_ID = "9d4f6c1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
XML = (Protocol.QUERY, Protocol.REST_XML)
SETTINGS = settings(
    max_examples=4,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _operation_for(service: str, shape_name: str) -> str:
    """An operation that lists the error (not a HEAD one), else the first non-HEAD operation."""
    model = service_model(service)
    fallback = None
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.http.get("method") == "HEAD":
            continue
        fallback = fallback or name
        if any(e.name == shape_name for e in op.error_shapes):
            return str(name)
    assert fallback is not None
    return str(fallback)


def _error_cases() -> list[tuple[str, str, Protocol]]:
    cases = []
    for service in SERVED_SERVICES:
        model = service_model(service)
        for protocol in protocols(model):
            for shape in model.error_shapes:
                cases.append((service, shape.name, protocol))
    return cases


ERROR_CASES = _error_cases()


def _parse_like_endpoint(
    service: str, operation: str, response: HttpResponse, protocol: Protocol
) -> dict[str, Any]:
    parsed = wire.parse_response(service, operation, response, protocol.value)
    code = parsed.get("Error", {}).get("Code")
    modeled = service_model(service).shape_for_error_code(code)
    if modeled is not None:
        parser = botocore.parsers.create_parser(protocol.value)
        headers = HeadersDict({k.lower(): v for k, v in response.headers})
        parsed.update(
            parser.parse({"status_code": response.status, "headers": headers, "body": response.body}, modeled)
        )
    return parsed


def _split(shape: Any, value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for key in ("message", "Message"):
        if key in shape.members:
            return str(value.get(key, "the message")), {k: x for k, x in value.items() if k != key}
    return "the message", dict(value)


def test_error_case_count() -> None:
    assert len(ERROR_CASES) > 500


@pytest.mark.parametrize(
    ("service", "shape_name", "protocol"), ERROR_CASES, ids=lambda x: getattr(x, "value", x)
)
def test_modelled_error(service: str, shape_name: str, protocol: Protocol) -> None:
    model = service_model(service)
    shape = model.shape_for(shape_name)
    meta = shape.metadata.get("error", {})
    status = int(meta.get("httpStatusCode", 400))
    operation = _operation_for(service, shape_name)
    query_compatible = "awsQueryCompatible" in model.metadata and protocol in (Protocol.JSON, Protocol.CBOR)

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        generated = data.draw(strategies.values(shape))
        message, fields = _split(shape, generated)
        error = ServiceError(
            shape_name, message, status, sender_fault=bool(meta.get("senderFault", False)), fields=fields
        )
        response = serialize_error(protocol, error, REQUEST_ID, service=service, operation=operation)
        assert response.status == status
        parsed = _parse_like_endpoint(service, operation, response, protocol)
        assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
        assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
        err = parsed.pop("Error")
        assert err["Code"] == shape.error_code
        if query_compatible:
            assert err["QueryErrorCode"] == shape_name
            assert err["Type"] == ("Sender" if error.sender_fault else "Receiver")
        want_message = _XML_INVALID.sub("\ufffd", message) if protocol in XML else message
        if protocol in XML and not message:
            want_message = None  # botocore reads an empty <Message></Message> as None
        assert err["Message"] == want_message
        parsed.pop("ResponseMetadata")
        want = {}
        body = {**fields}
        for key in ("message", "Message"):
            if key in shape.members and not (protocol in XML and key == "message"):
                body[key] = message
        for name, value in body.items():
            member = shape.members[name]
            header = member.serialization.get("location") == "header"
            want[name] = expected(member, value, protocol, header=header)
        assert parsed == want

    check()


MESSAGES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@pytest.mark.parametrize("protocol", [p for p in Protocol if p is not Protocol.EC2] + [Protocol.EC2])
@SETTINGS
@given(
    code=st.sampled_from(["InternalFailure", "UnknownOperationException", "AccessDenied"]), message=MESSAGES
)
def test_generic_error_without_service(protocol: Protocol, code: str, message: str) -> None:
    response = serialize_error(protocol, ServiceError(code, message, 403), REQUEST_ID)
    parser = botocore.parsers.create_parser(protocol.value)
    headers = HeadersDict({k.lower(): v for k, v in response.headers})
    parsed = parser.parse({"status_code": 403, "headers": headers, "body": response.body}, None)
    assert parsed["Error"]["Code"] == code
    xml = protocol in (Protocol.QUERY, Protocol.REST_XML, Protocol.EC2)
    want = (_XML_INVALID.sub("\ufffd", message) or None) if xml else message
    assert parsed["Error"]["Message"] == want
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_unknown_service_and_operation_are_tolerated() -> None:
    error = internal_failure(REQUEST_ID)
    for protocol in Protocol:
        response = serialize_error(protocol, error, REQUEST_ID, service="nosuchservice", operation="Nope")
        assert response.status == 500 and response.body
        response = serialize_error(protocol, error, REQUEST_ID, service="sqs", operation="Nope")
        assert response.status == 500 and response.body


@pytest.mark.parametrize(
    ("protocol", "content_type"),
    [
        (Protocol.JSON, "application/x-amz-json-1.0"),
        (Protocol.REST_JSON, "application/json"),
        (Protocol.QUERY, "text/xml"),
        (Protocol.REST_XML, "application/xml"),
        (Protocol.CBOR, "application/cbor"),
    ],
)
def test_error_content_types(protocol: Protocol, content_type: str) -> None:
    response = serialize_error(protocol, ServiceError("X", "y"), REQUEST_ID)
    assert ("Content-Type", content_type) in response.headers
    assert not any(k.lower() == "content-length" for k, _ in response.headers)
    if protocol is Protocol.CBOR:
        assert ("smithy-protocol", "rpc-v2-cbor") in response.headers


def test_xml_escaping_of_messages() -> None:
    message = 'a < b && c > "d" \r\n\t é 😀 \ufffe'
    response = serialize_error(Protocol.QUERY, ServiceError("Bad", message), REQUEST_ID, service="sns")
    assert b"&lt;" in response.body and b"&amp;&amp;" in response.body and b"&#13;" in response.body
    parsed = wire.parse_response("sns", "Publish", response, "query")
    assert parsed["Error"]["Message"] == message.replace("\ufffe", "\ufffd")
    assert parsed["Error"]["Type"] == "Sender"


def test_s3_head_error_has_no_body() -> None:
    error = ServiceError("NoSuchKey", "The specified key does not exist.", 404)
    response = serialize_error(Protocol.REST_XML, error, REQUEST_ID, service="s3", operation="HeadObject")
    assert response.body == b""
    parsed = wire.parse_response("s3", "HeadObject", response, "rest-xml")
    assert parsed["Error"]["Code"] == "404"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_s3_error_body_and_unmodelled_fields() -> None:
    error = ServiceError(
        "NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": "b&b"}
    )
    response = serialize_error(Protocol.REST_XML, error, REQUEST_ID, service="s3", operation="ListObjectsV2")
    assert response.body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchBucket</Code>'
    )
    parsed = wire.parse_response("s3", "ListObjectsV2", response, "rest-xml")
    assert parsed["Error"] == {"Code": "NoSuchBucket", "Message": error.message, "BucketName": "b&b"}
    assert parsed["ResponseMetadata"]["HostId"]


def test_modelled_error_code_wins_over_shape_name() -> None:
    # IAM's NoSuchEntityException travels as NoSuchEntity; a provider may raise either spelling
    for code in ("NoSuchEntityException", "NoSuchEntity"):
        response = serialize_error(Protocol.QUERY, ServiceError(code, "m", 404), REQUEST_ID, service="iam")
        assert b"<Code>NoSuchEntity</Code>" in response.body
    assert error_shape(service_model("iam"), "NoSuchEntity").name == "NoSuchEntityException"


def test_provider_supplied_query_error_header_is_kept() -> None:
    legacy = "AWS.SimpleQueueService.NonExistentQueue;Sender"
    error = ServiceError("QueueDoesNotExist", "gone", 400, headers={"x-amzn-query-error": legacy})
    response = serialize_error(Protocol.JSON, error, REQUEST_ID, service="sqs", operation="GetQueueUrl")
    assert [v for k, v in response.headers if k == "x-amzn-query-error"] == [legacy]
    parsed = wire.parse_response("sqs", "GetQueueUrl", response, "json")
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert parsed["Error"]["QueryErrorCode"] == "QueueDoesNotExist"


# ---- boto3 level: a real client raises the modelled exception class ----


class _Raw(io.BytesIO):
    """The urllib3 response botocore reads: `stream()` for content, `read()` for streaming bodies."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _client_answering(service: str, response: HttpResponse) -> Any:
    session = botocore.session.get_session()
    client = session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url=wire.ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        headers = HeadersDict()
        for k, v in response.headers:
            headers[k] = v
        return AWSResponse(request.url, response.status, headers, _Raw(response.body))

    client.meta.events.register_first("before-send", answer)
    return client


@pytest.mark.parametrize(
    ("service", "method", "kwargs", "code", "status", "exception"),
    [
        ("sqs", "get_queue_url", {"QueueName": "q"}, "QueueDoesNotExist", 400, "QueueDoesNotExist"),
        ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "NoSuchKey", 404, "NoSuchKey"),
        (
            "lambda",
            "get_function",
            {"FunctionName": "f"},
            "ResourceNotFoundException",
            404,
            "ResourceNotFoundException",
        ),
        ("iam", "get_role", {"RoleName": "r"}, "NoSuchEntityException", 404, "NoSuchEntityException"),
        (
            "dynamodb",
            "describe_table",
            {"TableName": "t"},
            "ResourceNotFoundException",
            400,
            "ResourceNotFoundException",
        ),
        ("cloudwatch", "get_dashboard", {"DashboardName": "d"}, "ResourceNotFound", 404, "ResourceNotFound"),
        (
            "sns",
            "get_topic_attributes",
            {"TopicArn": "arn:aws:sns:us-east-1:1:t"},
            "NotFound",
            404,
            "NotFoundException",
        ),
    ],
)
def test_boto3_raises_modelled_exception(
    service: str, method: str, kwargs: dict[str, Any], code: str, status: int, exception: str
) -> None:
    probe = _client_answering(service, HttpResponse(200, []))
    protocol = Protocol(probe.meta.service_model.resolved_protocol)
    operation = probe.meta.method_to_api_mapping[method]
    response = serialize_error(
        protocol, ServiceError(code, "not here", status), REQUEST_ID, service=service, operation=operation
    )
    client = _client_answering(service, response)
    with pytest.raises(getattr(client.exceptions, exception)) as info:
        getattr(client, method)(**kwargs)
    assert info.value.response["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert info.value.response["Error"]["Message"] == "not here"


def test_boto3_sees_request_id_and_output_on_success() -> None:
    now = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    for service, method, output in [
        (
            "sts",
            "get_caller_identity",
            {"Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root", "UserId": "u"},
        ),
        ("s3", "head_object", {"ContentLength": 12, "LastModified": now, "Metadata": {"k": "v"}}),
        ("lambda", "invoke", {"StatusCode": 200, "Payload": '{"ok": true}'}),
        ("cloudwatch", "list_metrics", {"Metrics": [{"Namespace": "N", "MetricName": "M"}]}),
    ]:
        probe = _client_answering(service, HttpResponse(200, []))
        protocol = Protocol(probe.meta.service_model.resolved_protocol)
        operation = probe.meta.method_to_api_mapping[method]
        response = serialize_response(Route(service, operation, protocol), output, REQUEST_ID)
        client = _client_answering(service, response)
        kwargs: dict[str, Any] = {
            "s3": {"Bucket": "b", "Key": "k"},
            "lambda": {"FunctionName": "f"},
        }.get(service, {})
        result = client.__getattribute__(method)(**kwargs)
        assert result["ResponseMetadata"]["RequestId"] == REQUEST_ID
        for key, value in output.items():
            got = result[key]
            if hasattr(got, "read"):
                got = got.read().decode()
            assert got == value, (service, key)
