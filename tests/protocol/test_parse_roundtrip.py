"""Round trip: botocore serializes generated input for every operation of every
served service (in every protocol the service speaks), we route and parse the
request, and must get the input back.

What the comparison forgives is what the wire legitimately changes
(`expected_after_wire` below), each with its reason:
- timestamps sent as epoch seconds or HTTP dates: botocore's default precision
  drops the milliseconds (iso8601 keeps them);
- containers the protocol cannot carry when empty: query maps / structures
  with no set members and lists made only of such items, flattened XML lists,
  REST header/query-string lists and maps, raw payloads of zero bytes;
- header-map keys: HTTP header names are case-insensitive (lower-cased);
- members botocore injects by itself (`INJECTED`): idempotency tokens it
  fills, S3 checksum headers / Content-MD5 / `x-amz-sdk-checksum-algorithm`
  (computed from the body), `EncodingType=url` on S3 listings, S3 SSE-C key
  headers (base64-encoded and MD5-summed by a handler).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import replace
from typing import Any

import botocore.serialize
import pytest
from botocore.handlers import _quote_source_header
from botocore.model import Shape
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from squall.protocol.errors import ServiceError
from squall.protocol.models import SERVED_SERVICES, protocols, service_model
from squall.protocol.parsers import parse_request
from squall.protocol.types import Protocol, Route
from tests.protocol import strategies, wire
from tests.protocol.conftest import request_via_serializer, route_for

MISSING = object()
EXAMPLES = int(os.environ.get("SQUALL_PARSE_EXAMPLES", "6"))  # raise for a deeper soak

# Members botocore's S3 handlers add or rewrite; compared only when the test
# cannot predict them (see module docstring).
S3_INJECTED = {
    "ContentMD5",
    "ChecksumMode",
    "ContentLength",  # the HTTP layer sets Content-Length from the body
    "ChecksumAlgorithm",
    "ChecksumCRC32",
    "ChecksumCRC32C",
    "ChecksumCRC64NVME",
    "ChecksumSHA1",
    "ChecksumSHA256",
    "ChecksumMD5",
    "ChecksumSHA512",
    "ChecksumXXHASH64",
    "ChecksumXXHASH3",
    "ChecksumXXHASH128",
    "SSECustomerKey",
    "SSECustomerKeyMD5",
    "CopySourceSSECustomerKey",
    "CopySourceSSECustomerKeyMD5",
}
# Generated values botocore cannot send: checksum algorithms other than CRC32
# need awscrt, which is not installed.
S3_UNSENT = ("ChecksumAlgorithm",)
S3_LISTINGS = {"ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads"}
# Members botocore's endpoint rules turn into a different host (and reject
# unless they are host labels); they never reach a local endpoint.
UNSENDABLE = {("events", "PutEvents"): "EndpointId"}
BUCKETS = st.from_regex(r"\A[a-z0-9][a-z0-9-]{2,20}[a-z0-9]\Z")


def _cases() -> list[tuple[str, str, Protocol]]:
    cases = []
    for service in SERVED_SERVICES:
        model = service_model(service)
        for proto in protocols(model):
            cases.extend((service, op, proto) for op in model.operation_names)
    return cases


CASES = _cases()


def _seconds(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)


@functools.cache
def _epoch_keeps_millis(protocol: Protocol) -> bool:
    """Whether this botocore's serializer keeps milliseconds in epoch-seconds
    timestamps (1.44 does; 1.43 sent whole seconds)."""
    serializer = botocore.serialize.SERIALIZERS[protocol.value]()
    sample = dt.datetime(2000, 1, 1, 0, 0, 0, 1000, tzinfo=dt.UTC)
    return float(serializer._timestamp_unixtimestamp(sample)) != float(946684800)


def _ts_format(shape: Shape, where: str, protocol: Protocol) -> str:
    if where == "header":  # botocore converts header timestamps to whole seconds first
        return "rfc822"
    fmt = shape.serialization.get("timestampFormat")
    if fmt:
        return str(fmt).lower()
    if where in ("uri", "querystring") or protocol in (Protocol.QUERY, Protocol.REST_XML):
        return "iso8601"
    return "unixtimestamp"


def _norm(value: Any, shape: Shape, protocol: Protocol, where: str) -> Any:
    """What the wire can carry of `value` (MISSING when nothing)."""
    t = shape.type_name
    query = protocol is Protocol.QUERY
    if t == "timestamp":
        fmt = _ts_format(shape, where, protocol)
        if fmt == "iso8601" or (fmt == "unixtimestamp" and _epoch_keeps_millis(protocol)):
            return value
        return _seconds(value)
    if t == "structure":
        if shape.metadata.get("document"):
            return value
        out = {}
        for name, item in value.items():
            normed = _norm(item, shape.members[name], protocol, where)
            if normed is not MISSING:
                out[name] = normed
        if protocol is Protocol.REST_XML:
            _merge_xml_aliases(shape, out)
        return MISSING if query and not out else out
    if t == "list":
        items = [_norm(v, shape.member, protocol, where) for v in value]
        kept = [v for v in items if v is not MISSING]
        if query and items and not kept:
            return MISSING
        if not value and protocol is Protocol.REST_XML and shape.serialization.get("flattened"):
            return MISSING
        return kept
    if t == "map":
        out = {}
        for k, v in value.items():
            normed = _norm(v, shape.value, protocol, where)
            if normed is not MISSING:
                out[k] = normed
        if not out and (query or (protocol is Protocol.REST_XML and shape.serialization.get("flattened"))):
            return MISSING
        return out
    return value


def _merge_xml_aliases(shape: Shape, out: dict[str, Any]) -> None:
    """A scalar member whose element name is also a flattened list's (S3's
    deprecated `Event` next to `Events`) is indistinguishable on the wire:
    its value arrives as one more list item."""
    for name, member in shape.members.items():
        if member.type_name != "list" or not member.serialization.get("flattened"):
            continue
        wire_name = member.serialization.get("name", name)
        aliases = {
            o for o, m in shape.members.items() if o != name and m.serialization.get("name", o) == wire_name
        }
        if not aliases & out.keys():
            continue
        items: list[Any] = []
        for key in list(out):
            if key == name:
                items.extend(out.pop(key))
            elif key in aliases:
                items.append(out.pop(key))
        out[name] = items


def expected_after_wire(service: str, operation: str, protocol: Protocol, params: dict[str, Any]) -> dict:
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    rest = protocol in (Protocol.REST_JSON, Protocol.REST_XML)
    payload = shape.serialization.get("payload") if shape is not None else None
    out: dict[str, Any] = {}
    for name, value in params.items():
        member = shape.members[name]
        where = member.serialization.get("location", "body") if rest else "body"
        normed = _norm(value, member, protocol, where)
        if normed is MISSING:
            continue
        if (
            where in ("header", "querystring", "headers")
            and member.type_name in ("list", "map")
            and not normed
        ):
            continue
        if where == "headers":
            normed = {k.lower(): v for k, v in normed.items()}
        if rest and name == payload and member.type_name in ("blob", "string") and not normed:
            continue
        out[name] = normed
    absent_payload = protocol is Protocol.REST_JSON and payload and payload not in out
    if absent_payload and shape.members[payload].type_name == "structure":
        out[payload] = {}  # botocore sends `{}` for an absent structure payload
    return out


def _drop_injected(service: str, operation: str, params: dict, parsed: dict) -> None:
    shape = service_model(service).operation_model(operation).input_shape
    for name, member in shape.members.items() if shape is not None else ():
        if member.metadata.get("idempotencyToken") and name not in params:
            parsed.pop(name, None)
        if service == "apigateway" and member.serialization.get("name") == "Accept" and name not in params:
            parsed.pop(name, None)
    if service == "s3":
        for name in S3_INJECTED:
            params.pop(name, None)
            parsed.pop(name, None)
        if operation in S3_LISTINGS and "EncodingType" not in params:
            parsed.pop("EncodingType", None)
        if "CopySource" in params:  # a handler percent-encodes it; S3 receives it encoded
            params["CopySource"] = _quote_source_header(params["CopySource"])


@pytest.mark.parametrize(("service", "operation", "protocol"), CASES, ids=lambda v: getattr(v, "value", v))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_round_trip(service: str, operation: str, protocol: Protocol, data: st.DataObject) -> None:
    model = service_model(service)
    op = model.operation_model(operation)
    every_member = data.draw(st.booleans())  # half the examples carry every top-level member
    shape = op.input_shape
    params: dict[str, Any] = data.draw(strategies.values(shape, all_members=every_member)) if shape else {}
    if (service, operation) in UNSENDABLE:
        params.pop(UNSENDABLE[service, operation], None)
    if service == "s3":
        for name in S3_UNSENT:
            params.pop(name, None)
    if service == "s3" and "Bucket" in params:
        params["Bucket"] = data.draw(BUCKETS)
    for name, member in op.input_shape.members.items() if op.input_shape else ():
        location = member.serialization.get("location")
        if location == "headers":  # header names are case-insensitive: keys must differ in lower case
            keys = [k.lower() for k in params.get(name, {})]
            assume(len(keys) == len(set(keys)))
        if member.serialization.get("hostLabel") and name in params:  # must be a valid host label
            params[name] = data.draw(st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,10}\Z"))
        if location == "uri" and name in params:  # an empty path segment cannot be routed
            assume(params[name] != "")
    if protocol.value == model.resolved_protocol:
        request = wire.request_for(service, operation, params)
    else:
        request = request_via_serializer(service, operation, protocol, params)
    route = route_for(service, operation, protocol, request)
    parsed = parse_request(route, request)
    params = dict(params)
    _drop_injected(service, operation, params, parsed)
    assert parsed == expected_after_wire(service, operation, protocol, params)


# --- malformed input: the exact AWS error code and status, never a raw exception ---


def _captured(
    service: str, operation: str, params: dict[str, Any], protocol: Protocol | None = None
) -> tuple:
    model = service_model(service)
    protocol = protocol or Protocol(model.resolved_protocol)
    if protocol.value == model.resolved_protocol:
        request = wire.request_for(service, operation, params)
    else:
        request = request_via_serializer(service, operation, protocol, params)
    return route_for(service, operation, protocol, request), request


def _bad(route: Any, request: Any, **changes: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        parse_request(route, replace(request, **changes))
    assert info.value.status == 400
    return info.value


JSON_BODIES = [
    (b"{not json", "SerializationException"),
    (b"[1, 2]", "SerializationException"),
    (b'{"StreamName": 5}', "SerializationException"),
    (b'{"StreamName": "s", "ShardId": 7}', "SerializationException"),
    (b'{"StreamName": "s", "ShardId": {"a": 1}}', "SerializationException"),
    (b'{"StreamName": "s", "ShardIteratorType": ["x"]}', "SerializationException"),
    (b'{"StreamName": "s", "Timestamp": "yesterday"}', "SerializationException"),
    (b'{"StreamName": "s", "Timestamp": true}', "SerializationException"),
    (b"\xff\xfe{}", "SerializationException"),
]


@pytest.mark.parametrize(("body", "code"), JSON_BODIES)
def test_malformed_json(body: bytes, code: str) -> None:
    route, request = _captured("kinesis", "DescribeStream", {"StreamName": "s"})
    route = Route("kinesis", "GetShardIterator", route.protocol)
    assert _bad(route, request, body=body).code == code


def test_malformed_json_numbers() -> None:
    route, request = _captured("kinesis", "GetRecords", {"ShardIterator": "s", "Limit": 5})
    assert parse_request(route, request) == {"ShardIterator": "s", "Limit": 5}
    for body in (b'{"ShardIterator": "s", "Limit": "ten"}', b'{"ShardIterator": "s", "Limit": 99999999999}'):
        err = _bad(route, request, body=body)
        assert err.code == "SerializationException"
        assert "'Limit'" in err.message


def test_malformed_json_blob_and_content_type() -> None:
    route, request = _captured("kinesis", "PutRecord", {"StreamName": "s", "Data": b"x", "PartitionKey": "k"})
    err = _bad(route, request, body=b'{"StreamName": "s", "Data": "!!notbase64", "PartitionKey": "k"}')
    assert err.code == "SerializationException"
    assert "Data" in err.message
    headers = {**request.headers, "content-type": "text/plain"}
    assert _bad(route, request, headers=headers).code == "SerializationException"


def test_malformed_rest_json() -> None:
    route, request = _captured("lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Timeout": 3})
    assert _bad(route, request, body=b"{oops").code == "InvalidRequestContentException"
    assert _bad(route, request, body=b'{"Timeout": "3"}').code == "InvalidRequestContentException"
    route, request = _captured("lambda", "ListFunctions", {"MaxItems": 5})
    assert _bad(route, request, query_string="MaxItems=five").code == "InvalidRequestContentException"
    route, request = _captured("apigateway", "GetRestApis", {"limit": 5})
    assert _bad(route, request, query_string="limit=x").code == "BadRequestException"


def test_malformed_cbor() -> None:
    route, request = _captured("cloudwatch", "ListDashboards", {"DashboardNamePrefix": "d"}, Protocol.CBOR)
    assert parse_request(route, request) == {"DashboardNamePrefix": "d"}
    assert _bad(route, request, body=b"\xff\x00garbage").code == "SerializationException"
    assert _bad(route, request, body=b"\x82\x01\x02").code == "SerializationException"  # an array, not a map
    assert _bad(route, request, body=b"\xa1\x72DashboardNamePrefix\x05").code == "SerializationException"
    headers = {**request.headers, "content-type": "application/json"}
    assert _bad(route, request, headers=headers).code == "SerializationException"


def test_malformed_query() -> None:
    route, request = _captured("iam", "ListUsers", {"MaxItems": 5})
    assert _bad(route, request, body=b"Action=ListUsers&MaxItems=five").code == "InvalidParameterValue"
    assert _bad(route, request, body=b"Action=ListUsers&MaxItems=\xff").code == "MalformedQueryString"
    route, request = _captured(
        "sns", "Publish", {"Message": "m", "MessageAttributes": {"a": {"DataType": "String"}}}
    )
    body = b"Action=Publish&Message=m&MessageAttributes.entry.x.Name=a"
    assert _bad(route, request, body=body).code == "MalformedQueryString"
    body = b"Action=Publish&Message=m&Message.x=1"
    assert _bad(route, request, body=body).code == "MalformedQueryString"
    route, request = _captured("sns", "Publish", {"Message": "m"})
    headers = {**request.headers, "content-type": "application/json"}
    assert _bad(route, request, headers=headers).code == "MalformedQueryString"


def test_malformed_rest_xml() -> None:
    params = {"Bucket": "bucket", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}
    route, request = _captured("s3", "PutBucketTagging", params)
    assert parse_request(route, request)["Tagging"] == params["Tagging"]
    for body in (
        b"<Tagging><TagSet>",
        b"<Wrong><TagSet/></Wrong>",
        b'<!DOCTYPE x [<!ENTITY a "b">]><Tagging/>',
        b"\xff\xfe<",
    ):
        err = _bad(route, request, body=body)
        assert (err.code, err.message) == (
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    route, request = _captured(
        "s3", "PutBucketVersioning", {"Bucket": "bucket", "VersioningConfiguration": {}}
    )
    body = b'<VersioningConfiguration xmlns="urn:x"><Status>Enabled</Status></VersioningConfiguration>'
    assert parse_request(route, replace(request, body=body))["VersioningConfiguration"] == {
        "Status": "Enabled"
    }
    route, request = _captured("s3", "GetObject", {"Bucket": "bucket", "Key": "k"})
    headers = {**request.headers, "if-modified-since": "not a date"}
    assert _bad(route, request, headers=headers).code == "InvalidArgument"
    assert _bad(route, request, query_string="x-id=GetObject&partNumber=one").code == "InvalidArgument"


def test_streaming_payload_and_metadata() -> None:
    params = {"Bucket": "bucket", "Key": "a/b c", "Body": b"\x00hello", "Metadata": {"Owner": "me"}}
    route, request = _captured("s3", "PutObject", params)
    parsed = parse_request(route, request)
    assert parsed["Body"] == b"\x00hello"
    assert parsed["Key"] == "a/b c"
    assert parsed["Metadata"] == {"owner": "me"}


def test_timestamps_are_utc_aware() -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    for service, operation, params, key in (
        ("logs", "GetLogEvents", {"logGroupName": "g", "logStreamName": "s", "startTime": 1}, None),
        (
            "cloudwatch",
            "GetMetricStatistics",
            {
                "Namespace": "n",
                "MetricName": "m",
                "StartTime": when,
                "EndTime": when,
                "Period": 60,
                "Statistics": ["Sum"],
            },
            "StartTime",
        ),
        ("s3", "GetObject", {"Bucket": "bucket", "Key": "k", "IfModifiedSince": when}, "IfModifiedSince"),
        ("sts", "GetCallerIdentity", {}, None),
    ):
        route, request = _captured(service, operation, params)
        parsed = parse_request(route, request)
        if key:
            assert parsed[key] == when and parsed[key].tzinfo is not None


def test_query_via_get_and_empty_json_body() -> None:
    route, request = _captured("iam", "ListUsers", {"MaxItems": 5})
    get = replace(
        request, method="GET", query_string="Action=ListUsers&Version=2010-05-08&MaxItems=7", body=b""
    )
    assert parse_request(route, get) == {"MaxItems": 7}
    route, request = _captured("sqs", "ListQueues", {})
    assert parse_request(route, replace(request, body=b"")) == {}
