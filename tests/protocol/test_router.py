"""The router against botocore's real requests, for every served operation."""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any
from urllib.parse import urlencode, urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.serialize
import botocore.session
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from squall.protocol.models import SERVED_SERVICES, service_model
from squall.protocol.router import Router, RoutingError
from squall.protocol.types import HttpRequest, Protocol, Route
from tests.protocol import strategies, wire

ROUTER = Router()
CASES = [(s, o) for s in SERVED_SERVICES for o in service_model(s).operation_names]
S3_OPS = [o for s, o in CASES if s == "s3"]
CW_OPS = [o for s, o in CASES if s == "cloudwatch"]
SQS_OPS = [o for s, o in CASES if s == "sqs"]

#: Operations whose request is byte-for-byte the same as another's (the
#: deprecated S3 lifecycle/notification calls); the router picks the current one.
WIRE_IDENTICAL = {
    ("s3", "GetBucketLifecycle"): ("s3", "GetBucketLifecycleConfiguration"),
    ("s3", "PutBucketLifecycle"): ("s3", "PutBucketLifecycleConfiguration"),
    ("s3", "GetBucketNotification"): ("s3", "GetBucketNotificationConfiguration"),
    ("s3", "PutBucketNotification"): ("s3", "PutBucketNotificationConfiguration"),
}
#: Told apart only by the credential scope (`s3express`), so unsigned requests lose it.
SCOPE_ONLY = {("s3", "ListDirectoryBuckets"): ("s3", "ListBuckets")}

_BUCKETS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzAZ0123456789.-_", min_size=1, max_size=20)

SETTINGS = settings(
    max_examples=int(os.environ.get("SQUALL_ROUTER_EXAMPLES", "3")),  # raise it for a deeper soak
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking re-runs botocore hundreds of times
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _labels(service: str, operation: str, params: dict[str, Any]) -> dict[str, str]:
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    out = {}
    for name, member in shape.members.items():
        if member.serialization.get("location") == "uri" and name in params:
            out[member.serialization.get("name", name)] = _text(params[name])
    return out


def _draw_params(data: st.DataObject, service: str, operation: str) -> dict[str, Any]:
    op = service_model(service).operation_model(operation)
    if op.input_shape is None:
        return {}
    params: dict[str, Any] = data.draw(strategies.values(op.input_shape))
    if service == "s3" and "Bucket" in params:  # botocore refuses other bucket names client-side
        params["Bucket"] = data.draw(_BUCKETS)
    if service == "events":
        params.pop("EndpointId", None)  # global endpoints sign with SigV4a (needs botocore[crt])
    if params.get("ChecksumAlgorithm", "CRC32") not in ("CRC32", "SHA1", "SHA256"):
        params["ChecksumAlgorithm"] = "CRC32"  # the others need botocore[crt] or are refused
    assume(all(v != "" for v in _labels(service, operation, params).values()))
    if op.endpoint and op.endpoint.get("hostPrefix") and service == "s3":
        assume(str(params.get("RequestRoute", "")).isalnum())
    return params


def _expected(service: str, operation: str) -> tuple[str, str]:
    return WIRE_IDENTICAL.get((service, operation), (service, operation))


def _assert_route(
    route: Route, service: str, operation: str, protocol: Protocol, labels: dict[str, str]
) -> None:
    assert (route.service, route.operation) == _expected(service, operation)
    assert route.protocol is protocol
    assert route.uri_params == labels


def _unsigned(req: HttpRequest, host: str) -> HttpRequest:
    headers = {k: v for k, v in req.headers.items() if k != "authorization"}
    headers["host"] = host
    return dataclasses.replace(req, headers=headers)


@pytest.mark.parametrize(("service", "operation"), CASES, ids=[f"{s}.{o}" for s, o in CASES])
@SETTINGS
@given(data=st.data())
def test_routes_botocore_request(service: str, operation: str, data: st.DataObject) -> None:
    params = _draw_params(data, service, operation)
    req = wire.request_for(service, operation, params)
    protocol = Protocol(wire.client(service).meta.service_model.resolved_protocol)
    labels = _labels(service, operation, params)
    _assert_route(ROUTER.route(req), service, operation, protocol, labels)

    # the same request unsigned, told apart by the service's own Host name
    model = service_model(service)
    if model.operation_model(operation).endpoint:
        return
    unsigned = ROUTER.route(_unsigned(req, f"{model.metadata['endpointPrefix']}.us-east-1.localhost:4566"))
    expected = SCOPE_ONLY.get((service, operation), _expected(service, operation))
    assert (unsigned.service, unsigned.operation) == expected
    assert unsigned.uri_params == labels


@pytest.mark.parametrize("operation", S3_OPS)
@SETTINGS
@given(data=st.data())
def test_s3_virtual_host(operation: str, data: st.DataObject) -> None:
    params = _draw_params(data, "s3", operation)
    req = wire.request_for("s3", operation, params, addressing="virtual")
    route = ROUTER.route(req)
    _assert_route(route, "s3", operation, Protocol.REST_XML, _labels("s3", operation, params))


@functools.cache
def _presigner(addressing: str, signature: str) -> Any:
    cfg = botocore.config.Config(
        s3={"addressing_style": addressing}, signature_version=signature, parameter_validation=False
    )
    return botocore.session.get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=wire.ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=cfg,
    )


def _presignable(operation: str) -> bool:
    """Presigned URLs carry no XML body: operations whose input is a document
    can't be presigned (botocore tries to fold the body into the query)."""
    shape = service_model("s3").operation_model(operation).input_shape
    if shape is None:
        return True
    payload = shape.serialization.get("payload")
    if payload is not None:
        return shape.members[payload].type_name == "blob"
    return all(m.serialization.get("location") for m in shape.members.values())


@pytest.mark.parametrize(
    "operation", [o for o in S3_OPS if _presignable(o) and o != "WriteGetObjectResponse"]
)
@SETTINGS
@given(data=st.data(), style=st.sampled_from([("virtual", "s3v4"), ("path", "s3v4"), ("path", "s3")]))
def test_s3_presigned(operation: str, data: st.DataObject, style: tuple[str, str]) -> None:
    params = _draw_params(data, "s3", operation)
    payload = service_model("s3").operation_model(operation).input_shape.serialization.get("payload")
    params.pop(payload, None)  # the URL signs no body; the caller sends it
    client = _presigner(*style)
    method = {v: k for k, v in client.meta.method_to_api_mapping.items()}[operation]
    url = urlsplit(client.generate_presigned_url(method, Params=params))
    # the caller sends the URL plus the headers the operation needs (e.g. x-amz-copy-source)
    plain = wire.request_for("s3", operation, params, addressing=style[0])
    headers = {k: v for k, v in plain.headers.items() if k != "authorization"}
    headers["host"] = url.netloc
    req = HttpRequest(plain.method, url.path or "/", url.query, headers)
    assert "authorization" not in req.headers
    route = ROUTER.route(req)
    if style[1] == "s3":  # SigV2 names no signing service: s3express-only twins fall back
        assert (route.service, route.operation) == SCOPE_ONLY.get(
            ("s3", operation), _expected("s3", operation)
        )
    else:
        _assert_route(route, "s3", operation, Protocol.REST_XML, _labels("s3", operation, params))
    assert route.uri_params == _labels("s3", operation, params)


def _serialized(
    service: str, operation: str, protocol: str, params: dict[str, Any], scope: str
) -> HttpRequest:
    op = service_model(service).operation_model(operation)
    request_dict = botocore.serialize.create_serializer(
        protocol, include_validation=False
    ).serialize_to_request(params, op)
    if isinstance(request_dict["body"], dict):
        request_dict["body"] = urlencode(request_dict["body"]).encode()
    botocore.awsrequest.prepare_request_dict(request_dict, wire.ENDPOINT)
    aws_request = botocore.awsrequest.create_request_object(request_dict)
    creds = botocore.credentials.Credentials("test", "test")
    botocore.auth.SigV4Auth(creds, scope, "us-east-1").add_auth(aws_request)
    return wire.to_http_request(aws_request.prepare())


@pytest.mark.parametrize("operation", CW_OPS)
@SETTINGS
@given(data=st.data(), protocol=st.sampled_from([Protocol.CBOR, Protocol.QUERY, Protocol.JSON]))
def test_cloudwatch_protocol_variants(operation: str, data: st.DataObject, protocol: Protocol) -> None:
    params = _draw_params(data, "cloudwatch", operation)
    req = _serialized("cloudwatch", operation, protocol.value, params, "monitoring")
    _assert_route(ROUTER.route(req), "cloudwatch", operation, protocol, {})


@pytest.mark.parametrize("operation", SQS_OPS)
@SETTINGS
@given(data=st.data())
def test_sqs_query_protocol(operation: str, data: st.DataObject) -> None:
    params = _draw_params(data, "sqs", operation)
    req = _serialized("sqs", operation, "query", params, "sqs")
    _assert_route(ROUTER.route(req), "sqs", operation, Protocol.QUERY, {})
    # old SDKs post to the queue URL on the service's host, unsigned requests too
    unsigned = _unsigned(dataclasses.replace(req, path="/000000000000/q1"), "sqs.us-east-1.localhost:4566")
    _assert_route(ROUTER.route(unsigned), "sqs", operation, Protocol.QUERY, {})


def test_shadowed_operations_are_exactly_the_known_ones() -> None:
    assert ROUTER.shadowed == {**WIRE_IDENTICAL, **SCOPE_ONLY}


def _req(
    method: str, path: str, query: str = "", host: str = "localhost:4566", **headers: str
) -> HttpRequest:
    return HttpRequest(method, path, query, {"host": host, **headers})


def _scope(service: str) -> str:
    return f"AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"


@pytest.mark.parametrize(
    ("request_", "operation", "uri_params"),
    [
        (_req("GET", "/b", "list-type=2&prefix=x"), "ListObjectsV2", {"Bucket": "b"}),
        (_req("GET", "/b", "prefix=x"), "ListObjects", {"Bucket": "b"}),
        (_req("GET", "/b/k%2Fx/y", "acl"), "GetObjectAcl", {"Bucket": "b", "Key": "k/x/y"}),
        (_req("GET", "/b/k", "tagging="), "GetObjectTagging", {"Bucket": "b", "Key": "k"}),
        (_req("GET", "/b/k", "uploadId=1"), "ListParts", {"Bucket": "b", "Key": "k"}),
        (_req("GET", "/b/dir/"), "GetObject", {"Bucket": "b", "Key": "dir/"}),
        (_req("GET", "/b/"), "ListObjects", {"Bucket": "b"}),
        (_req("POST", "/b/k", "uploads"), "CreateMultipartUpload", {"Bucket": "b", "Key": "k"}),
        (_req("POST", "/b/k", "uploadId=u"), "CompleteMultipartUpload", {"Bucket": "b", "Key": "k"}),
        (_req("PUT", "/b/k", **{"x-amz-copy-source": "a/b"}), "CopyObject", {"Bucket": "b", "Key": "k"}),
        (_req("PUT", "/", host="my.bucket.s3.us-east-1.localhost"), "CreateBucket", {"Bucket": "my.bucket"}),
        (
            _req("GET", "/k", "versioning", host="bk.s3.localhost:4566"),
            "GetObject",
            {"Bucket": "bk", "Key": "k"},
        ),
        (
            _req("GET", "/", "versioning", host="bk.s3.localhost:4566"),
            "GetBucketVersioning",
            {"Bucket": "bk"},
        ),
        (
            _req("GET", "/k", host="bk.localhost.localstack.cloud:4566"),
            "GetObject",
            {"Bucket": "bk", "Key": "k"},
        ),
        (_req("GET", "/b/k", host="s3.us-east-1.localhost"), "GetObject", {"Bucket": "b", "Key": "k"}),
        (
            _req("GET", "/", host="sqs.localhost", authorization=_scope("s3")),
            "ListObjects",
            {"Bucket": "sqs"},
        ),
        (_req("HEAD", "/b"), "HeadBucket", {"Bucket": "b"}),
    ],
)
def test_s3_disambiguation(request_: HttpRequest, operation: str, uri_params: dict[str, str]) -> None:
    assert ROUTER.route(request_) == Route("s3", operation, Protocol.REST_XML, uri_params)


def test_rest_json_routes_by_scope_and_host() -> None:
    lam = _req(
        "GET", "/2015-03-31/functions/my%3Afn/configuration", "Qualifier=1", authorization=_scope("lambda")
    )
    assert ROUTER.route(lam) == Route(
        "lambda", "GetFunctionConfiguration", Protocol.REST_JSON, {"FunctionName": "my:fn"}
    )
    v2 = _req("GET", "/v2/apis/abc", host="apigateway.eu-west-1.localhost:4566")
    assert ROUTER.route(v2) == Route("apigatewayv2", "GetApi", Protocol.REST_JSON, {"apiId": "abc"})
    v1 = _req("GET", "/restapis/abc", authorization=_scope("apigateway"))
    assert ROUTER.route(v1) == Route("apigateway", "GetRestApi", Protocol.REST_JSON, {"restapi_id": "abc"})
    listing = _req(
        "GET", "/2019-09-30/functions/f/provisioned-concurrency", "List=ALL", authorization=_scope("lambda")
    )
    assert ROUTER.route(listing).operation == "ListProvisionedConcurrencyConfigs"


def test_sigv4a_scope_names_the_service() -> None:
    auth = (
        "AWS4-ECDSA-P256-SHA256 Credential=AK/20260101/events/aws4_request, SignedHeaders=host, Signature=0"
    )
    req = _req("POST", "/", authorization=auth, **{"content-type": "application/x-www-form-urlencoded"})
    assert _error(req).service == "events"  # json service, no X-Amz-Target


def test_query_version_picks_service() -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    for version, service in [("2011-06-15", "sts"), ("2010-05-08", "iam"), ("2010-03-31", "sns"),
                             ("2010-08-01", "cloudwatch"), ("2012-11-05", "sqs")]:  # fmt: skip
        action = next(iter(service_model(service).operation_names))
        body = f"Version={version}&Action={action}".encode()
        req = HttpRequest("POST", "/", "", {"host": "localhost:4566", **form}, body)
        assert ROUTER.route(req) == Route(service, action, Protocol.QUERY)
        assert ROUTER.route(_req("GET", "/", f"Action={action}&Version={version}")).service == service
    # no Version: the first query service that has the action
    assert ROUTER.route(_req("GET", "/", "Action=GetCallerIdentity")).service == "sts"


def _error(req: HttpRequest, router: Router = ROUTER) -> RoutingError:
    with pytest.raises(RoutingError) as info:
        router.route(req)
    return info.value


def test_errors_speak_the_clients_protocol() -> None:
    err = _error(_req("POST", "/", **{"x-amz-target": "DynamoDB_20120810.Nope"}))
    assert (err.code, err.status, err.protocol, err.service) == (
        "UnknownOperationException",
        400,
        Protocol.JSON,
        "dynamodb",
    )
    err = _error(_req("POST", "/", **{"x-amz-target": "NoSuchPrefix.Op"}))
    assert (err.code, err.protocol, err.service) == ("UnknownOperationException", Protocol.JSON, None)
    err = _error(_req("GET", "/", "Action=Nope&Version=2011-06-15"))
    assert (err.code, err.status, err.protocol, err.service) == ("InvalidAction", 400, Protocol.QUERY, "sts")
    assert err.message == "The action Nope is not valid for this web service."
    err = _error(_req("GET", "/2015-03-31/nothing", authorization=_scope("lambda")))
    assert (err.code, err.status, err.protocol, err.service) == (
        "UnknownOperationException",
        404,
        Protocol.REST_JSON,
        "lambda",
    )
    err = _error(_req("PATCH", "/b/k"))
    assert (err.code, err.status, err.protocol) == ("MethodNotAllowed", 405, Protocol.REST_XML)
    assert err.fields == {"Method": "PATCH", "ResourceType": "OBJECT"}
    err = _error(_req("POST", "/b"))
    assert (err.code, err.status, err.service) == ("NotImplemented", 501, "s3")
    err = _error(_req("POST", "/service/Nope/operation/X", **{"smithy-protocol": "rpc-v2-cbor"}))
    assert (err.code, err.status, err.protocol) == ("UnknownOperationException", 404, Protocol.CBOR)
    err = _error(
        _req(
            "POST", "/", authorization=_scope("ec2"), **{"content-type": "application/x-www-form-urlencoded"}
        )
    )
    assert (err.code, err.status, err.service) == ("NotImplemented", 501, None)
    err = _error(_req("POST", "/", authorization=_scope("dynamodb")))
    assert (err.code, err.protocol, err.service) == ("UnknownOperationException", Protocol.JSON, "dynamodb")
    err = _error(_req("POST", "/", authorization=_scope("sts")))
    assert (err.code, err.protocol, err.service) == ("MissingAction", Protocol.QUERY, "sts")


def test_router_subset_and_base_hosts() -> None:
    router = Router(["sqs", "lambda"], base_hosts=("example.test",))
    assert router.route(_req("GET", "/2015-03-31/functions", host="lambda.example.test")).service == "lambda"
    assert router.route(_req("GET", "/", "Action=ListQueues")) == Route("sqs", "ListQueues", Protocol.QUERY)
    # anonymous requests would go to S3, which this router does not serve
    assert _error(_req("GET", "/b/k"), router).code == "NotImplemented"
