"""Round trip: Hypothesis output -> our serializer -> botocore's parser -> the same output.

Every operation of every served service, in every protocol its model lists
(CloudWatch: rpc-v2-cbor, json and query). What `expected()` changes is what
botocore (or HTTP) legitimately changes, each with its reason:

- timestamps come back as aware datetimes in local time: compared as instants;
  HTTP-date headers carry whole seconds, so header timestamps lose their milliseconds;
- `None` members and empty header lists are absent on the wire, so absent after parsing;
- flattened XML lists/maps with no items leave no element: absent after parsing;
- XML 1.0 cannot carry U+FFFE, U+FFFF or C0 controls: they travel as U+FFFD;
- `headers`-prefixed maps come back with lower-cased keys (header names are case-insensitive)
  and as {} when absent;
- a non-streaming blob payload comes back decoded as str, a streaming one as a stream
  (read here); an absent payload comes back as the empty body ('' / b'' / {});
- a status-code member absent from the output comes back as the status sent (the
  operation's modelled responseCode); generated status codes are clamped to 2xx,
  since an output travels with a success status;
- Content-Length is the gateway's (except for HEAD), and a Content-Type header member
  absent from the output comes back as the default content type we send;
- S3 GetBucketLocation's body is a text root element, read by botocore's own
  after-call handler (`parse_get_bucket_location`), applied here too; an empty root is None.

Excluded: json-protocol operations whose output is an event stream (botocore reads
the body as event-stream frames; event streams are passed through as bytes for now), and
S3's deprecated GetBucketNotification, whose model puts two members (`Event`, `Events`)
on the same element name, so no XML can round-trip both.

Not checked: the request id of CBOR operations without an output shape, which botocore's
rpc-v2 parser does not read (the header is checked instead).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import types
from typing import Any

import pytest
from botocore.handlers import parse_get_bucket_location
from botocore.model import OperationModel, Shape
from botocore.response import StreamingBody
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.protocol.models import SERVED_SERVICES, protocols, service_model
from squall.protocol.serializers import serialize_response
from squall.protocol.types import Protocol, Route
from tests.protocol import strategies, wire

EXAMPLES = int(os.environ.get("SQUALL_SERIALIZE_EXAMPLES", "6"))
REQUEST_ID = "3f1c0a7e-5b2d-4c9e-8a61-0d2e7b9c4f10"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REST = (Protocol.REST_JSON, Protocol.REST_XML)
XML = (Protocol.QUERY, Protocol.REST_XML)


def _cases() -> tuple[list[tuple[str, str, Protocol]], list[str]]:
    cases, excluded = [], []
    for service in SERVED_SERVICES:
        model = service_model(service)
        for protocol in protocols(model):
            for name in model.operation_names:
                op = model.operation_model(name)
                out = op.output_shape
                streamed = (
                    protocol in (Protocol.JSON, Protocol.CBOR) and out is not None and out.event_stream_name
                )
                if streamed or (service, name) == ("s3", "GetBucketNotification"):
                    excluded.append(f"{service}.{name}[{protocol.value}]")
                    continue
                cases.append((service, name, protocol))
    return cases, excluded


CASES, EXCLUDED = _cases()


def test_case_count() -> None:
    # every served operation is covered; the exclusions are the json event-stream outputs only
    assert len(CASES) > 1300
    assert sorted(EXCLUDED) == [
        "kinesis.SubscribeToShard[json]",
        "logs.GetLogObject[json]",
        "logs.StartLiveTail[json]",
        "s3.GetBucketNotification[rest-xml]",
    ]


def _is_stream(shape: Shape) -> bool:
    return bool(shape.serialization.get("eventstream"))


def _scalar(shape: Shape, value: Any, protocol: Protocol, header: bool) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        d = value.astimezone(dt.UTC)
        fmt = shape.serialization.get("timestampFormat", "rfc822" if header else None)
        return d.replace(microsecond=0) if fmt == "rfc822" else d
    if kind == "string" and protocol in XML and not header:
        return _XML_INVALID.sub("\ufffd", value)
    if kind in ("float", "double"):
        return float(value)
    return value


def expected(shape: Shape, value: Any, protocol: Protocol, header: bool = False) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        out = {}
        for name, item in value.items():
            member = shape.members[name]
            if item is None or _is_stream(member):
                continue
            if (
                protocol in XML
                and member.type_name in ("list", "map")
                and member.serialization.get("flattened")
                and not item
            ):
                continue
            out[name] = expected(member, item, protocol)
        return out
    if kind == "list":
        return [expected(shape.member, x, protocol, header) for x in value]
    if kind == "map":
        return {
            _scalar(shape.key, k, protocol, header): expected(shape.value, x, protocol, header)
            for k, x in value.items()
        }
    return _scalar(shape, value, protocol, header)


def expected_rest(op: OperationModel, value: dict[str, Any], protocol: Protocol) -> dict[str, Any]:
    shape = op.output_shape
    out: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    head = op.http.get("method") == "HEAD"
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        item = value.get(name)
        if _is_stream(member):
            continue
        if location == "statusCode":
            out[name] = item if item is not None else int(op.http.get("responseCode", 200))
        elif location == "headers":
            out[name] = {k.lower(): x for k, x in (item or {}).items()}
        elif location == "header":
            header = member.serialization.get("name", name).lower()
            if item is None or (member.type_name == "list" and not item):
                continue
            if header == "content-length" and not head:
                continue
            out[name] = expected(member, item, protocol, header=True)
        elif name == payload:
            if member.type_name in ("blob", "string"):
                raw = b"" if item is None else (item.encode() if isinstance(item, str) else item)
                out[name] = raw if op.has_streaming_output else raw.decode("utf-8", "replace")
            elif item is None:
                out[name] = {}
            else:
                out[name] = expected(member, item, protocol)
        elif item is not None and payload is None:
            flattened = member.type_name in ("list", "map") and member.serialization.get("flattened")
            if protocol in XML and flattened and not item:
                continue
            out[name] = expected(member, item, protocol)
    return out


def _clamp_status(op: OperationModel, value: dict[str, Any]) -> dict[str, Any]:
    for name, member in op.output_shape.members.items():
        if member.serialization.get("location") == "statusCode" and value.get(name) is not None:
            value = {**value, name: 200 + abs(value[name]) % 100}
    return value


def _gateway_or_default_header(op: OperationModel, member: Shape, name: str, value: dict[str, Any]) -> bool:
    header = str(member.serialization.get("name", "")).lower()
    if header == "content-type":
        return name not in value
    return header == "content-length" and op.http.get("method") != "HEAD"


def _parsed(service: str, op: OperationModel, protocol: Protocol, value: dict[str, Any]) -> dict[str, Any]:
    response = serialize_response(Route(service, op.name, protocol), value, REQUEST_ID)
    assert 200 <= response.status < 300
    assert (
        not any(k.lower() == "content-length" for k, _ in response.headers) or op.http.get("method") == "HEAD"
    )
    parsed = wire.parse_response(service, op.name, response, protocol.value)
    meta = parsed.pop("ResponseMetadata")
    if protocol is Protocol.CBOR and op.output_shape is None:
        assert ("x-amzn-RequestId", REQUEST_ID) in response.headers
    else:
        assert meta["RequestId"] == REQUEST_ID
    if service == "s3":
        assert meta["HostId"]
        if op.name == "GetBucketLocation":
            parse_get_bucket_location(parsed, types.SimpleNamespace(raw=True, content=response.body))
            if parsed["LocationConstraint"] is None:  # an empty root element: us-east-1
                del parsed["LocationConstraint"]
    shape = op.output_shape
    for name, member in shape.members.items() if shape is not None else ():
        if _is_stream(member):
            parsed.pop(name, None)
        elif isinstance(parsed.get(name), StreamingBody):
            parsed[name] = parsed[name].read()
        elif _gateway_or_default_header(op, member, name, value):
            parsed.pop(name, None)
    return parsed


@pytest.mark.parametrize(("service", "operation", "protocol"), CASES, ids=lambda x: getattr(x, "value", x))
def test_round_trip(service: str, operation: str, protocol: Protocol) -> None:
    op = service_model(service).operation_model(operation)
    shape = op.output_shape
    if shape is None:
        parsed = _parsed(service, op, protocol, {})
        assert parsed == {}
        return

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        value = _clamp_status(op, data.draw(strategies.values(shape)))
        parsed = _parsed(service, op, protocol, value)
        want = expected_rest(op, value, protocol) if protocol in REST else expected(shape, value, protocol)
        assert parsed == want

    check()


# ---- wire details the round trip cannot see (botocore ignores them) ----


def _respond(service: str, operation: str, protocol: Protocol, output: dict[str, Any]) -> Any:
    return serialize_response(Route(service, operation, protocol), output, REQUEST_ID)


@pytest.mark.parametrize(
    ("service", "operation", "protocol", "headers"),
    [
        ("dynamodb", "ListTables", Protocol.JSON, {"Content-Type": "application/x-amz-json-1.0"}),
        ("logs", "DescribeLogGroups", Protocol.JSON, {"Content-Type": "application/x-amz-json-1.1"}),
        ("lambda", "ListFunctions", Protocol.REST_JSON, {"Content-Type": "application/json"}),
        ("sns", "ListTopics", Protocol.QUERY, {"Content-Type": "text/xml"}),
        (
            "s3",
            "ListBuckets",
            Protocol.REST_XML,
            {"Content-Type": "application/xml", "x-amz-request-id": REQUEST_ID},
        ),
        (
            "cloudwatch",
            "ListMetrics",
            Protocol.CBOR,
            {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
        ),
    ],
)
def test_content_type_and_request_id(
    service: str, operation: str, protocol: Protocol, headers: dict[str, str]
) -> None:
    response = _respond(service, operation, protocol, {})
    got = dict(response.headers)
    for name, value in headers.items():
        assert got[name] == value
    if protocol is Protocol.REST_XML:
        assert got["x-amz-id-2"]
    elif protocol is Protocol.QUERY:
        assert (
            f"<ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata>".encode()
            in response.body
        )
    else:
        assert got["x-amzn-RequestId"] == REQUEST_ID
    assert "Content-Length" not in got


@pytest.mark.parametrize(
    ("operation", "output", "root"),
    [
        ("ListBuckets", {"Buckets": []}, b"<ListAllMyBucketsResult xmlns="),
        ("ListObjectsV2", {"Name": "b"}, b"<ListBucketResult xmlns="),
        ("GetBucketTagging", {"TagSet": []}, b"<Tagging xmlns="),
        ("GetObjectAcl", {"Grants": []}, b"<AccessControlPolicy xmlns="),
        ("CopyObject", {"CopyObjectResult": {"ETag": "e"}}, b"<CopyObjectResult xmlns="),
        ("GetObjectRetention", {"Retention": {"Mode": "GOVERNANCE"}}, b"<Retention xmlns="),
        ("CreateMultipartUpload", {"UploadId": "u"}, b"<InitiateMultipartUploadResult xmlns="),
        ("GetBucketLocation", {"LocationConstraint": "eu-west-1"}, b"<LocationConstraint xmlns="),
    ],
)
def test_s3_root_elements(operation: str, output: dict[str, Any], root: bytes) -> None:
    body = _respond("s3", operation, Protocol.REST_XML, output).body
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + root + b'"http://s3.amazonaws.com/doc/2006-03-01/">'
    )
    if operation == "GetBucketLocation":
        assert body.endswith(b">eu-west-1</LocationConstraint>")


def test_head_keeps_content_length_and_sends_no_body() -> None:
    when = dt.datetime(2024, 2, 29, 23, 59, 58, 500000, tzinfo=dt.UTC)
    response = _respond("s3", "HeadObject", Protocol.REST_XML, {"ContentLength": 5, "LastModified": when})
    assert response.body == b""
    headers = dict(response.headers)
    assert headers["Content-Length"] == "5"
    assert headers["Last-Modified"] == "Thu, 29 Feb 2024 23:59:58 GMT"
    get = _respond("s3", "GetObject", Protocol.REST_XML, {"Body": b"hello", "ContentLength": 5})
    assert get.body == b"hello" and "Content-Length" not in dict(get.headers)


def test_rest_json_status_and_empty_body() -> None:
    deleted = _respond("lambda", "DeleteAlias", Protocol.REST_JSON, {})
    assert deleted.status == 204 and deleted.body == b""
    created = _respond("lambda", "CreateAlias", Protocol.REST_JSON, {"Name": "live"})
    assert created.status == 201 and created.body == b'{"Name":"live"}'
    invoked = _respond("lambda", "Invoke", Protocol.REST_JSON, {"StatusCode": 202, "Payload": b""})
    assert invoked.status == 202 and invoked.body == b""


def test_query_result_wrapper_and_empty_output() -> None:
    body = _respond("sns", "CreateTopic", Protocol.QUERY, {"TopicArn": "arn:a&b"}).body
    assert body.startswith(
        b'<CreateTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><CreateTopicResult>'
    )
    assert b"<TopicArn>arn:a&amp;b</TopicArn></CreateTopicResult><ResponseMetadata>" in body
    empty = _respond("sns", "DeleteTopic", Protocol.QUERY, {}).body
    assert empty == (
        b'<DeleteTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ResponseMetadata>'
        + f"<RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></DeleteTopicResponse>".encode()
    )


def test_lenient_inputs_str_blobs_and_epoch_timestamps() -> None:
    ddb = wire.parse_response(
        "dynamodb",
        "GetItem",
        _respond("dynamodb", "GetItem", Protocol.JSON, {"Item": {"b": {"B": "hé"}}}),
        "json",
    )
    assert ddb["Item"] == {"b": {"B": "hé".encode()}}
    for protocol in (Protocol.CBOR, Protocol.JSON, Protocol.QUERY):
        output = {"MetricDataResults": [{"Id": "a", "Timestamps": [1700000000, 1700000000.25]}]}
        response = _respond("cloudwatch", "GetMetricData", protocol, output)
        parsed = wire.parse_response("cloudwatch", "GetMetricData", response, protocol.value)
        stamps = parsed["MetricDataResults"][0]["Timestamps"]
        assert [s.timestamp() for s in stamps] == [1700000000, 1700000000.25]


def test_rest_json_header_lists_json_values_and_header_timestamps() -> None:
    # no served output models these, so a small model of our own goes through botocore's parser
    from botocore.model import ServiceModel
    from botocore.parsers import create_parser

    from squall.protocol.serializers import restjson

    model = ServiceModel(
        {
            "metadata": {"protocol": "rest-json", "apiVersion": "2024-01-01", "endpointPrefix": "x"},
            "operations": {
                "Op": {"name": "Op", "http": {"method": "GET", "requestUri": "/"}, "output": {"shape": "Out"}}
            },
            "shapes": {
                "Out": {
                    "type": "structure",
                    "members": {
                        "Doc": {"shape": "Json", "location": "header", "locationName": "x-doc"},
                        "Names": {"shape": "Names", "location": "header", "locationName": "x-names"},
                        "When": {"shape": "Stamp", "location": "header", "locationName": "x-when"},
                        "At": {
                            "shape": "Stamp",
                            "location": "header",
                            "locationName": "x-at",
                            "timestampFormat": "iso8601",
                        },
                        "Flag": {"shape": "Flag", "location": "header", "locationName": "x-flag"},
                    },
                },
                "Json": {"type": "string", "jsonvalue": True},
                "Names": {"type": "list", "member": {"shape": "Name"}},
                "Name": {"type": "string"},
                "Stamp": {"type": "timestamp"},
                "Flag": {"type": "boolean"},
            },
        },
        service_name="synthetic-rest-json",
    )
    op = model.operation_model("Op")
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    output = {"Doc": {"a": [1, "b"]}, "Names": ["x", "y"], "When": when, "At": when, "Flag": False}
    response = restjson.response_plan("synthetic-rest-json", op)(output, REQUEST_ID)
    headers = dict(response.headers)
    assert headers["x-when"] == "Mon, 06 May 2024 07:08:09 GMT"
    assert headers["x-at"] == "2024-05-06T07:08:09Z"
    assert headers["x-names"] == "x,y"
    assert headers["x-flag"] == "false"
    raw = {"status_code": 200, "headers": {k.lower(): v for k, v in response.headers}, "body": response.body}
    parsed = create_parser("rest-json").parse(raw, op.output_shape)
    parsed.pop("ResponseMetadata")
    assert parsed == output
