"""SigV4 verification against requests signed by real botocore."""

from __future__ import annotations

import functools
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import botocore.config
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from squall.gateway.auth import (
    AuthContext,
    AuthError,
    AuthErrorKind,
    AuthMethod,
    Credentials,
    PayloadMode,
    StaticCredentials,
    auth_error_response,
    verify,
)
from squall.gateway.auth.canonical import canonical_query, query_pairs, signing_key
from squall.protocol.models import SERVED_SERVICES, service_model
from squall.protocol.types import HttpRequest, Protocol
from tests.protocol import strategies, wire

ACCOUNT = "000000000000"
STORE = StaticCredentials(
    [
        Credentials("test", "test", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"),
        Credentials("AKIDOTHER", "other-secret", "111111111111", "arn:aws:iam::111111111111:user/bob"),
        Credentials(
            "ASIATEMP", "temp-secret", "222222222222", "arn:aws:sts::222222222222:assumed-role/r/s", "tok"
        ),
    ]
)
ODD_KEYS = [
    "plain.txt",
    "with space/and more spaces.txt",
    "unicodé/日本語/ü.bin",
    "a+b=c~d%e&f",
    "percent%2Fliteral%20",
    "sub/dir//double/./dot/../x",
    "!'()*,;:@$[]",
    "trailing/",
    "~tilde~",
    "emoji-🎉",
]


def _mutate(req: HttpRequest, **changes: Any) -> HttpRequest:
    data = {"method": req.method, "path": req.path, "query_string": req.query_string,
            "headers": dict(req.headers), "body": req.body}  # fmt: skip
    data.update(changes)
    return HttpRequest(**data)


def _ok(req: HttpRequest, **kw: Any) -> AuthContext:
    ctx = verify(req, STORE, **kw)
    assert ctx.account_id == ACCOUNT
    assert ctx.access_key_id == "test"
    assert ctx.region == "us-east-1"
    return ctx


def _kind(req: HttpRequest, **kw: Any) -> AuthErrorKind:
    with pytest.raises(AuthError) as info:
        verify(req, STORE, **kw)
    return info.value.kind


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("sts", "GetCallerIdentity", {}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "s=1 +~"}),
    ("iam", "CreateUser", {"UserName": "bob", "Path": "/a b/"}),
    ("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": "héllo & +=%~ *"}),
    ("sqs", "SendMessage", {"QueueUrl": "http://localhost:4566/000000000000/q", "MessageBody": "x y"}),
    ("dynamodb", "PutItem", {"TableName": "t", "Item": {"k": {"S": "v ü"}}}),
    ("lambda", "Invoke", {"FunctionName": "my-fn", "Qualifier": "$LATEST", "Payload": b"{}"}),
    ("lambda", "GetFunction", {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f:1"}),
    ("lambda", "GetFunction", {"FunctionName": "odd name+=~%"}),
    ("lambda", "ListFunctions", {"Marker": "a b+c/d=e", "MaxItems": 5}),
    ("logs", "PutLogEvents", {"logGroupName": "/aws/lambda/f", "logStreamName": "s", "logEvents": []}),
    ("cloudwatch", "ListMetrics", {"Namespace": "AWS/Lambda"}),
    ("events", "PutEvents", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]}),
    ("kinesis", "ListStreams", {}),
    ("stepfunctions", "ListStateMachines", {}),
    ("ssm", "GetParameter", {"Name": "/a/b c"}),
    ("secretsmanager", "GetSecretValue", {"SecretId": "s"}),
    ("apigateway", "GetRestApis", {"position": "a b/c", "limit": 3}),
    ("apigatewayv2", "GetApis", {}),
    ("scheduler", "ListSchedules", {"NamePrefix": "x y"}),
    ("xray", "GetTraceSummaries", {"StartTime": 1, "EndTime": 2}),
    ("s3", "ListBuckets", {}),
    ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "a b+c*&=/~%", "Delimiter": "/", "StartAfter": "ü"}),
    ("s3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v+1/=", "ResponseContentType": "a/b; c=d"}),
    ("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}]}}),
] + [
    ("s3", "PutObject", {"Bucket": "bucket", "Key": key, "Body": b"data " + key.encode()}) for key in ODD_KEYS
]


@pytest.mark.parametrize(
    ("service", "operation", "params"), CASES, ids=[f"{s}.{o}.{i}" for i, (s, o, _) in enumerate(CASES)]
)
def test_botocore_signed_requests_verify(service: str, operation: str, params: dict[str, Any]) -> None:
    req = wire.request_for(service, operation, params)
    ctx = _ok(req)
    assert ctx.method is AuthMethod.HEADER
    assert ctx.principal_arn == f"arn:aws:iam::{ACCOUNT}:root"
    assert ctx.service == service_model(service).signing_name
    # Any change to what was signed breaks the signature.
    assert _kind(_mutate(req, method="PATCH")) is AuthErrorKind.BAD_SIGNATURE
    assert _kind(_mutate(req, path=req.path + "x")) is AuthErrorKind.BAD_SIGNATURE
    assert _kind(_mutate(req, query_string=req.query_string + "&extra=1")) is AuthErrorKind.BAD_SIGNATURE
    host = {**req.headers, "host": "evil.example:4566"}
    assert _kind(_mutate(req, headers=host)) is AuthErrorKind.BAD_SIGNATURE


@pytest.mark.parametrize("key", ODD_KEYS)
def test_s3_virtual_host_keys_verify(key: str) -> None:
    req = wire.request_for("s3", "GetObject", {"Bucket": "bucket", "Key": key}, addressing="virtual")
    assert req.host.startswith("bucket.")
    _ok(req)


def test_body_tampering() -> None:
    # Non-S3: the body's hash is part of the signature.
    req = wire.request_for("dynamodb", "ListTables", {"Limit": 5})
    assert _kind(_mutate(req, body=req.body + b" ")) is AuthErrorKind.BAD_SIGNATURE
    # S3: x-amz-content-sha256 is signed; a body that doesn't match it is refused.
    req = wire.request_for("s3", "PutObject", {"Bucket": "b", "Key": "k", "Body": b"hello"})
    assert _kind(_mutate(req, body=b"hellO")) is AuthErrorKind.BAD_PAYLOAD_HASH


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30),
    prefix=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)
def test_s3_arbitrary_keys_and_query_values(key: str, prefix: str) -> None:
    _ok(wire.request_for("s3", "PutObject", {"Bucket": "b", "Key": key, "Body": b"x"}))
    _ok(wire.request_for("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": prefix, "StartAfter": key}))


def _signed(service: str, operation: str) -> bool:
    op = service_model(service).operation_model(operation)
    return op.auth_type != "none" and "smithy.api#noAuth" not in (op.auth or [])


def _sample_operations(per_service: int) -> list[tuple[str, str]]:
    picked = []
    for svc in SERVED_SERVICES:
        names = [op for op in sorted(service_model(svc).operation_names) if _signed(svc, op)]
        picked += [(svc, op) for op in names[:: max(1, len(names) // per_service)]]
    return picked


_OPERATIONS = _sample_operations(4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(_OPERATIONS))
def test_generated_inputs_across_services(data: st.DataObject, which: tuple[str, str]) -> None:
    service, operation = which
    shape = service_model(service).operation_model(operation).input_shape
    params = data.draw(strategies.values(shape)) if shape is not None else {}
    try:
        req = wire.request_for(service, operation, params)
    except Exception:  # botocore refused to serialize this input: not what is under test
        assume(False)
        raise
    _ok(req)


# --- presigned URLs ---------------------------------------------------------


@functools.cache
def _presigner(service: str, token: str | None = None) -> Any:
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", endpoint_url=wire.ENDPOINT,
        aws_access_key_id="ASIATEMP" if token else "test",
        aws_secret_access_key="temp-secret" if token else "test", aws_session_token=token,
        config=botocore.config.Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )  # fmt: skip


def _from_url(
    url: str, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None
) -> HttpRequest:
    parts = urlsplit(url)
    return HttpRequest(method, parts.path, parts.query, {"host": parts.netloc, **(headers or {})}, body)


@pytest.mark.parametrize("key", ODD_KEYS[:6])
def test_presigned_s3_get_and_put(key: str) -> None:
    s3 = _presigner("s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=300)
    ctx = _ok(_from_url(url))
    assert ctx.method is AuthMethod.PRESIGNED
    assert ctx.payload_mode is PayloadMode.UNSIGNED
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=60)
    assert _ok(_from_url(url, "PUT", b"any body at all")).payload_mode is PayloadMode.UNSIGNED
    # Expiry and tampering.
    later = datetime.now(UTC) + timedelta(seconds=120)
    assert _kind(_from_url(url, "PUT"), now=later) is AuthErrorKind.EXPIRED
    earlier = datetime.now(UTC) - timedelta(hours=1)
    assert _kind(_from_url(url, "PUT"), now=earlier) is AuthErrorKind.SKEWED
    assert _kind(_from_url(url.replace("/b/", "/c/"), "PUT")) is AuthErrorKind.BAD_SIGNATURE
    assert _kind(_from_url(url + "&x-id=PutObject", "PUT")) is AuthErrorKind.BAD_SIGNATURE


def test_presigned_sts_and_session_token() -> None:
    url = _presigner("sts").generate_presigned_url("get_caller_identity", ExpiresIn=900, HttpMethod="GET")
    ctx = _ok(_from_url(url))
    assert ctx.service == "sts" and ctx.method is AuthMethod.PRESIGNED
    # By default botocore presigns with the operation's own method (POST) and UNSIGNED-PAYLOAD.
    url = _presigner("sts").generate_presigned_url("get_caller_identity")
    _ok(_from_url(url, "POST"))
    assert _kind(_from_url(url, "GET")) is AuthErrorKind.BAD_SIGNATURE
    url = _presigner("s3", token="tok").generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}
    )
    assert verify(_from_url(url), STORE).account_id == "222222222222"
    bad = _presigner("s3", token="not-the-token").generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}
    )
    assert _kind(_from_url(bad)) is AuthErrorKind.INVALID_TOKEN


def test_presigned_malformed_parameters() -> None:
    url = _presigner("s3").generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    req = _from_url(url)
    for name, value in (("X-Amz-Expires", "604801"), ("X-Amz-Expires", "0"), ("X-Amz-Expires", "x"),
                        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"), ("X-Amz-Date", "2020-01-01")):  # fmt: skip
        pairs = [(k, value if k == name else v) for k, v in query_pairs(req.query_string)]
        assert _kind(_mutate(req, query_string=canonical_query(pairs))) is AuthErrorKind.MALFORMED, name
    pairs = [(k, v) for k, v in query_pairs(req.query_string) if k != "X-Amz-Signature"]
    with pytest.raises(AuthError) as info:
        verify(_mutate(req, query_string=canonical_query(pairs)), STORE)
    assert info.value.kind is AuthErrorKind.MALFORMED and info.value.details["method"] == "presigned"
    both = _mutate(req, headers={**req.headers, "authorization": "AWS4-HMAC-SHA256 x"})
    assert _kind(both) is AuthErrorKind.MALFORMED


# --- negative cases for each kind --------------------------------------------


def test_missing_and_anonymous() -> None:
    req = HttpRequest("GET", "/bucket/key", "", {"host": "localhost:4566"})
    assert _kind(req) is AuthErrorKind.MISSING
    ctx = verify(req, STORE, allow_anonymous=True)
    assert ctx.method is AuthMethod.ANONYMOUS and ctx.account_id is None and ctx.access_key_id is None
    unsigned = _mutate(
        req, method="PUT", body=b"abc", headers={**req.headers, "x-amz-content-sha256": "0" * 64}
    )
    assert _kind(unsigned, allow_anonymous=True) is AuthErrorKind.BAD_PAYLOAD_HASH


def test_unknown_key_and_wrong_secret() -> None:
    req = wire.request_for("sts", "GetCallerIdentity", {}, access_key="AKIDNOBODY", secret="x")
    with pytest.raises(AuthError) as info:
        verify(req, STORE)
    assert (
        info.value.kind is AuthErrorKind.UNKNOWN_KEY and info.value.details["access_key_id"] == "AKIDNOBODY"
    )
    req = wire.request_for("sts", "GetCallerIdentity", {}, access_key="AKIDOTHER", secret="wrong")
    with pytest.raises(AuthError) as info:
        verify(req, STORE)
    assert info.value.kind is AuthErrorKind.BAD_SIGNATURE
    assert info.value.details["canonical_request"].startswith("POST\n/\n\n")
    assert info.value.details["string_to_sign"].startswith("AWS4-HMAC-SHA256\n")
    ok = wire.request_for("sts", "GetCallerIdentity", {}, access_key="AKIDOTHER", secret="other-secret")
    assert verify(ok, STORE).principal_arn == "arn:aws:iam::111111111111:user/bob"


def test_session_token_required_for_temporary_keys() -> None:
    req = wire.request_for("sts", "GetCallerIdentity", {}, access_key="ASIATEMP", secret="temp-secret")
    assert _kind(req) is AuthErrorKind.INVALID_TOKEN


def test_clock_skew() -> None:
    req = wire.request_for("sqs", "ListQueues", {})
    now = datetime.now(UTC)
    _ok(req, now=now + timedelta(minutes=14))
    assert _kind(req, now=now + timedelta(minutes=16)) is AuthErrorKind.SKEWED
    assert _kind(req, now=now - timedelta(minutes=16)) is AuthErrorKind.SKEWED
    _ok(req, now=now + timedelta(minutes=50), max_skew=timedelta(hours=1))


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS test:c2lnbmF0dXJl",  # SigV2
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=test/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=test/{d}/us-east-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature=ab",
        "garbage",
    ],
)
def test_malformed_authorization(authorization: str) -> None:
    req = wire.request_for("s3", "ListBuckets", {})
    value = authorization.replace("{d}", req.headers["x-amz-date"][:8])
    assert _kind(_mutate(req, headers={**req.headers, "authorization": value})) is AuthErrorKind.MALFORMED


def test_missing_date_is_malformed_and_date_header_fallback() -> None:
    req = wire.request_for("sts", "GetCallerIdentity", {})
    headers = {k: v for k, v in req.headers.items() if k != "x-amz-date"}
    assert _kind(_mutate(req, headers=headers)) is AuthErrorKind.MALFORMED
    # A client that sends Date (no X-Amz-Date) signs over the Date header.
    aws = AWSRequest("GET", "http://localhost:4566/?Action=ListQueues", headers={"Date": "x"})
    SigV4Auth(ReadOnlyCredentials("test", "test", None), "sqs", "us-east-1").add_auth(aws)
    signed = wire.to_http_request(aws.prepare())
    assert "x-amz-date" not in signed.headers and "date" in signed.headers
    assert _ok(signed).service == "sqs"


def test_content_sha256_rules() -> None:
    req = wire.request_for("s3", "PutObject", {"Bucket": "b", "Key": "k", "Body": b"x"})
    headers = {k: v for k, v in req.headers.items() if k != "x-amz-content-sha256"}
    assert _kind(_mutate(req, headers=headers)) is AuthErrorKind.INVALID_CONTENT_SHA256
    bogus = {**req.headers, "x-amz-content-sha256": "STREAMING-NONSENSE"}
    assert _kind(_mutate(req, headers=bogus)) is AuthErrorKind.INVALID_CONTENT_SHA256


# --- error mapping -----------------------------------------------------------

EXPECTED: dict[str, dict[AuthErrorKind, tuple[str, int]]] = {
    "dynamodb": {
        AuthErrorKind.MISSING: ("MissingAuthenticationTokenException", 400),
        AuthErrorKind.UNKNOWN_KEY: ("UnrecognizedClientException", 400),
        AuthErrorKind.BAD_SIGNATURE: ("InvalidSignatureException", 400),
        AuthErrorKind.SKEWED: ("InvalidSignatureException", 400),
        AuthErrorKind.MALFORMED: ("IncompleteSignatureException", 400),
    },
    "lambda": {
        AuthErrorKind.MISSING: ("MissingAuthenticationTokenException", 403),
        AuthErrorKind.UNKNOWN_KEY: ("UnrecognizedClientException", 403),
        AuthErrorKind.BAD_SIGNATURE: ("InvalidSignatureException", 403),
    },
    "sts": {
        AuthErrorKind.MISSING: ("MissingAuthenticationToken", 403),
        AuthErrorKind.UNKNOWN_KEY: ("InvalidClientTokenId", 403),
        AuthErrorKind.INVALID_TOKEN: ("InvalidClientTokenId", 403),
        AuthErrorKind.BAD_SIGNATURE: ("SignatureDoesNotMatch", 403),
        AuthErrorKind.SKEWED: ("SignatureDoesNotMatch", 403),
        AuthErrorKind.MALFORMED: ("IncompleteSignature", 400),
    },
    "s3": {
        AuthErrorKind.MISSING: ("AccessDenied", 403),
        AuthErrorKind.MALFORMED: ("AuthorizationHeaderMalformed", 400),
        AuthErrorKind.UNKNOWN_KEY: ("InvalidAccessKeyId", 403),
        AuthErrorKind.INVALID_TOKEN: ("InvalidToken", 400),
        AuthErrorKind.BAD_SIGNATURE: ("SignatureDoesNotMatch", 403),
        AuthErrorKind.SKEWED: ("RequestTimeTooSkewed", 403),
        AuthErrorKind.EXPIRED: ("AccessDenied", 403),
        AuthErrorKind.INVALID_CONTENT_SHA256: ("InvalidRequest", 400),
        AuthErrorKind.BAD_PAYLOAD_HASH: ("XAmzContentSHA256Mismatch", 400),
        AuthErrorKind.BAD_CHUNK_SIGNATURE: ("SignatureDoesNotMatch", 403),
        AuthErrorKind.BAD_ENCODING: ("InvalidRequest", 400),
        AuthErrorKind.LENGTH_MISMATCH: ("IncompleteBody", 400),
        AuthErrorKind.INVALID_CHECKSUM: ("InvalidRequest", 400),
        AuthErrorKind.BAD_CHECKSUM: ("BadDigest", 400),
    },
}


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_mapping_table(service: str) -> None:
    protocol = Protocol(service_model(service).metadata["protocol"])
    for kind, (code, status) in EXPECTED[service].items():
        err = auth_error_response(AuthError(kind, "diagnostic"), protocol, service)
        assert (err.code, err.status) == (code, status), kind
        assert err.message


@pytest.mark.parametrize("protocol", list(Protocol))
@pytest.mark.parametrize("kind", list(AuthErrorKind))
def test_every_kind_maps_for_every_protocol(protocol: Protocol, kind: AuthErrorKind) -> None:
    for service in (None, "s3", "sqs"):
        err = auth_error_response(AuthError(kind, "why"), protocol, service)
        assert err.code and err.message and err.status in (400, 403)


def test_aws_messages_and_s3_fields() -> None:
    sig = AuthError(AuthErrorKind.BAD_SIGNATURE, access_key_id="AK", string_to_sign="AWS4\nx",
                    canonical_request="GET\n/", signature_provided="ab")  # fmt: skip
    json_err = auth_error_response(sig, Protocol.JSON, "dynamodb")
    assert json_err.message.startswith("The request signature we calculated does not match")
    assert json_err.message.endswith("Consult the service documentation for details.")
    s3 = auth_error_response(sig, Protocol.REST_XML, "s3")
    assert s3.fields["StringToSign"] == "AWS4\nx" and s3.fields["CanonicalRequest"] == "GET\n/"
    assert s3.fields["StringToSignBytes"] == "41 57 53 34 0a 78" and s3.fields["AWSAccessKeyId"] == "AK"
    key = auth_error_response(AuthError(AuthErrorKind.UNKNOWN_KEY, access_key_id="AK"), Protocol.QUERY, "sts")
    assert key.message == "The security token included in the request is invalid."
    # Skew: JSON/query services report AWS's "Signature expired" text; S3 its own code and fields.
    req = wire.request_for("logs", "DescribeLogGroups", {})
    with pytest.raises(AuthError) as info:
        verify(req, STORE, now=datetime.now(UTC) + timedelta(hours=1))
    err = auth_error_response(info.value, Protocol.JSON, "logs")
    assert err.code == "InvalidSignatureException"
    assert err.message.startswith("Signature expired: ") and err.message.endswith(" - 15 min.)")
    s3 = auth_error_response(info.value, Protocol.REST_XML, "s3")
    assert s3.fields["MaxAllowedSkewMilliseconds"] == "900000" and s3.fields["RequestTime"]
    expired = AuthError(AuthErrorKind.EXPIRED, x_amz_expires="60", expires="e", server_time="s")
    s3 = auth_error_response(expired, Protocol.REST_XML, "s3")
    assert (s3.code, s3.message, s3.fields["X-Amz-Expires"]) == ("AccessDenied", "Request has expired", "60")
    q = AuthError(AuthErrorKind.MALFORMED, "X-Amz-Expires must be non-negative", method="presigned")
    assert auth_error_response(q, Protocol.REST_XML, "s3").code == "AuthorizationQueryParametersError"


# --- performance -------------------------------------------------------------


def test_verification_cost_is_well_under_100us() -> None:
    req = wire.request_for(
        "sqs", "SendMessage", {"QueueUrl": "http://localhost:4566/000000000000/q", "MessageBody": "hi"}
    )
    verify(req, STORE)
    samples = []
    for _ in range(15):
        t = time.perf_counter()
        for _ in range(200):
            verify(req, STORE)
        samples.append((time.perf_counter() - t) / 200)
    median_us = statistics.median(samples) * 1e6
    print(f"verify median: {median_us:.1f} us")
    assert signing_key.cache_info().hits > 0
    assert median_us < 100
