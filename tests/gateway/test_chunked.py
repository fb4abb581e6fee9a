"""aws-chunked bodies and payload checksums: AWS's documented examples, real
boto3 uploads over https, and an independent signer written here."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import os
import zlib
from datetime import UTC, datetime
from typing import Any

import botocore.auth
import botocore.config
import botocore.credentials
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.gateway.auth import (
    AuthContext,
    AuthError,
    AuthErrorKind,
    Credentials,
    PayloadMode,
    StaticCredentials,
    decode_body,
    verify,
    verify_checksums,
)
from squall.protocol.checksums import CRC32C, CRC64NVME, checksum_b64
from squall.protocol.types import HttpRequest
from tests.protocol import wire

DOC_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = datetime(2013, 5, 24, 0, 5, tzinfo=UTC)
STORE = StaticCredentials(
    [
        Credentials(DOC_KEY, DOC_SECRET, "123456789012", "arn:aws:iam::123456789012:user/doc"),
        Credentials("test", "test", "000000000000", "arn:aws:iam::000000000000:root"),
    ]
)


def _replace(req: HttpRequest, **changes: Any) -> HttpRequest:
    data = {"method": req.method, "path": req.path, "query_string": req.query_string,
            "headers": dict(req.headers), "body": req.body}  # fmt: skip
    data.update(changes)
    return HttpRequest(**data)


def _decode_kind(req: HttpRequest, ctx: AuthContext) -> AuthErrorKind:
    with pytest.raises(AuthError) as info:
        decode_body(req, ctx)
    return info.value.kind


# --- AWS's documented examples (S3 API reference, sigv4-streaming and sigv4-streaming-trailers) ---


def _doc_request(trailer: bool) -> HttpRequest:
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    if trailer:
        signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
        seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
        sigs = [
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ]
    else:
        signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
        seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        sigs = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ]
    body = (
        f"10000;chunk-signature={sigs[0]}\r\n".encode() + b"a" * 65536 + b"\r\n"
        + f"400;chunk-signature={sigs[1]}\r\n".encode() + b"a" * 1024 + b"\r\n"
        + f"0;chunk-signature={sigs[2]}\r\n".encode()
    )  # fmt: skip
    if trailer:
        body += (
            b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
            b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
        )
    else:
        body += b"\r\n"
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": f"AWS4-HMAC-SHA256 Credential={DOC_KEY}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={seed}",
        "x-amz-content-sha256": mode,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32c"
        headers["content-length"] = str(len(body))
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


@pytest.mark.parametrize("trailer", [False, True])
def test_aws_documented_chunked_upload(trailer: bool) -> None:
    req = _doc_request(trailer)
    ctx = verify(req, STORE, now=DOC_NOW)
    assert ctx.payload_mode is (
        PayloadMode.STREAMING_SIGNED_TRAILER if trailer else PayloadMode.STREAMING_SIGNED
    )
    assert ctx.chunk_signing is not None and ctx.chunk_signing.scope == "20130524/us-east-1/s3/aws4_request"
    decoded = decode_body(req, ctx)
    assert decoded.payload == b"a" * 66560
    assert decoded.trailers == ({"x-amz-checksum-crc32c": "sOO8/Q=="} if trailer else {})
    assert decoded.content_encoding is None
    # One flipped payload byte breaks that chunk's signature.
    body = bytearray(req.body)
    body[100] = ord("b")
    assert _decode_kind(_replace(req, body=bytes(body)), ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE
    # Reordering is caught by the chain: swap the two data chunks' signatures.
    first, second = req.body.index(b"chunk-signature=") + 16, req.body.index(b"400;chunk-signature=") + 20
    swapped = bytearray(req.body)
    swapped[first : first + 64], swapped[second : second + 64] = (
        req.body[second : second + 64],
        req.body[first : first + 64],
    )
    assert _decode_kind(_replace(req, body=bytes(swapped)), ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE


def test_aws_documented_trailer_tampering() -> None:
    req = _doc_request(trailer=True)
    ctx = verify(req, STORE, now=DOC_NOW)
    bad_sig = req.body.replace(b"x-amz-trailer-signature:d81f", b"x-amz-trailer-signature:0000")
    assert _decode_kind(_replace(req, body=bad_sig), ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE
    # A different checksum value is caught by the trailer signature before the checksum itself.
    other = req.body.replace(b"sOO8/Q==", b"AAAAAA==")
    assert _decode_kind(_replace(req, body=other), ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE
    unsigned = req.body.replace(b"x-amz-trailer-signature:", b"x-amz-not-a-signature:")
    assert _decode_kind(_replace(req, body=unsigned), ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE


def test_documented_example_length_and_framing_errors() -> None:
    req = _doc_request(trailer=False)
    ctx = verify(req, STORE, now=DOC_NOW)
    longer = {**req.headers, "x-amz-decoded-content-length": "66561"}
    assert _decode_kind(_replace(req, headers=longer), ctx) is AuthErrorKind.LENGTH_MISMATCH
    assert _decode_kind(_replace(req, body=req.body[:60000]), ctx) is AuthErrorKind.BAD_ENCODING
    assert _decode_kind(_replace(req, body=b"zz;chunk-signature=00\r\n"), ctx) is AuthErrorKind.BAD_ENCODING
    no_crlf = req.body.replace(b"a\r\n400;", b"aX\n400;")
    assert _decode_kind(_replace(req, body=no_crlf), ctx) is AuthErrorKind.BAD_ENCODING
    trailing = req.body + b"garbage"
    assert _decode_kind(_replace(req, body=trailing), ctx) is AuthErrorKind.BAD_ENCODING


# --- real boto3 uploads over https (aws-chunked with a trailing checksum) -------


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


@functools.cache
def _https_s3() -> Any:
    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url="https://localhost:4566",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )  # fmt: skip

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register_first("before-send", capture)
    return client


def _upload(method: str, **params: Any) -> HttpRequest:
    try:
        getattr(_https_s3(), method)(**params)
    except _Captured as cap:
        return wire.to_http_request(cap.request)
    raise AssertionError("nothing sent")


@pytest.mark.parametrize("algorithm", [None, "CRC32", "SHA1", "SHA256"])
@pytest.mark.parametrize("size", [0, 1, 5000, 1024 * 1024 + 3])
def test_boto3_https_put_object(algorithm: str | None, size: int) -> None:
    data = os.urandom(size)
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    req = _upload("put_object", Bucket="b", Key="dir/k y", Body=io.BytesIO(data), **extra)
    assert req.headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    ctx = verify(req, STORE)
    assert ctx.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
    decoded = decode_body(req, ctx)
    assert decoded.payload == data
    name = f"x-amz-checksum-{(algorithm or 'CRC32').lower()}"
    assert decoded.trailers == {name: checksum_b64(algorithm or "CRC32", data)}
    # A corrupted byte is caught by the trailing checksum.
    if size:
        at = req.body.index(b"\r\n") + 2
        corrupt = bytearray(req.body)
        corrupt[at] ^= 0xFF
        assert _decode_kind(_replace(req, body=bytes(corrupt)), ctx) is AuthErrorKind.BAD_CHECKSUM


def test_boto3_https_upload_part_and_missing_trailer() -> None:
    data = b"part data " * 1000
    req = _upload("upload_part", Bucket="b", Key="k", UploadId="u", PartNumber=1, Body=data)
    ctx = verify(req, STORE)
    assert decode_body(req, ctx).payload == data
    cut = req.body[: req.body.rindex(b"0\r\n") + 3] + b"\r\n"
    assert _decode_kind(_replace(req, body=cut), ctx) is AuthErrorKind.BAD_ENCODING


def test_plain_bodies_pass_through_and_header_checksums() -> None:
    req = wire.request_for(
        "s3", "PutObject", {"Bucket": "b", "Key": "k", "Body": b"hello", "ChecksumAlgorithm": "SHA256"}
    )
    ctx = verify(req, STORE)
    decoded = decode_body(req, ctx)
    assert decoded.payload == b"hello" and decoded.trailers == {}
    assert verify_checksums(req.headers, decoded.payload) == {"SHA256": checksum_b64("SHA256", b"hello")}
    with pytest.raises(AuthError) as info:
        verify_checksums(req.headers, b"hellO")
    assert info.value.kind is AuthErrorKind.BAD_CHECKSUM and info.value.details["algorithm"] == "SHA256"


# --- an independent signer for every streaming variant ---------------------------------


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _seed_request(mode: str, decoded_len: int, trailer: str | None) -> tuple[HttpRequest, bytes, str, str]:
    """Headers signed by botocore's own SigV4 signer; returns the request without a body,
    the signing key derived here, the timestamp and the seed signature."""
    headers = {"X-Amz-Content-SHA256": mode, "Content-Encoding": "aws-chunked",
               "X-Amz-Decoded-Content-Length": str(decoded_len)}  # fmt: skip
    if trailer:
        headers["X-Amz-Trailer"] = trailer
    aws = AWSRequest("PUT", "http://localhost:4566/bucket/key.bin", headers=headers)
    creds = botocore.credentials.Credentials("test", "test")
    botocore.auth.SigV4Auth(creds, "s3", "us-east-1").add_auth(aws)
    req = wire.to_http_request(aws.prepare())
    amz_date = req.headers["x-amz-date"]
    key = b"AWS4test"
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    seed = req.headers["authorization"].rsplit("Signature=", 1)[1]
    return req, key, amz_date, seed


def _encode(
    chunks: list[bytes], mode: str, trailers: dict[str, str], key: bytes, amz_date: str, seed: str
) -> bytes:
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    signed = mode.startswith("STREAMING-AWS4")
    out, previous = [], seed
    for chunk in [*chunks, b""]:
        if signed:
            sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n{hashlib.sha256(chunk).hexdigest()}"
            previous = _hmac_hex(key, sts)
            out.append(f"{len(chunk):x};chunk-signature={previous}\r\n".encode())
        else:
            out.append(f"{len(chunk):x}\r\n".encode())
        if chunk:
            out.append(chunk + b"\r\n")
    for name, value in trailers.items():
        out.append(f"{name}:{value}\r\n".encode())
    if signed and mode.endswith("TRAILER"):
        canonical = "".join(f"{n}:{v}\n" for n, v in trailers.items())
        sts = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        out.append(f"x-amz-trailer-signature:{_hmac_hex(key, sts)}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


def _reference_crc(data: bytes, width: int, poly: int) -> int:
    crc = (1 << width) - 1
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ ((1 << width) - 1)


def _b64(value: int, width: int) -> str:
    return base64.b64encode(value.to_bytes(width // 8, "big")).decode()


MODES = [
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
]


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=5),
    algorithm=st.sampled_from(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]),
)
def test_independent_signer_round_trip(mode: str, chunks: list[bytes], algorithm: str) -> None:
    data = b"".join(chunks)
    reference = {
        "CRC32": lambda: _b64(zlib.crc32(data), 32),
        "CRC32C": lambda: _b64(_reference_crc(data, 32, 0x82F63B78), 32),
        "CRC64NVME": lambda: _b64(_reference_crc(data, 64, 0x9A6C9329AC4BC9B5), 64),
        "SHA1": lambda: base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "SHA256": lambda: base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }[algorithm]()
    has_trailer = mode.endswith("TRAILER")
    name = f"x-amz-checksum-{algorithm.lower()}"
    trailers = {name: reference} if has_trailer else {}
    req, key, amz_date, seed = _seed_request(mode, len(data), name if has_trailer else None)
    req = _replace(req, body=_encode(chunks, mode, trailers, key, amz_date, seed))
    ctx = verify(req, STORE)
    decoded = decode_body(req, ctx)
    assert decoded.payload == data and decoded.trailers == trailers
    if has_trailer:
        flipped = bytearray(base64.b64decode(reference))
        flipped[0] ^= 0x80
        wrong = {name: base64.b64encode(bytes(flipped)).decode()}
        bad = _replace(req, body=_encode(chunks, mode, wrong, key, amz_date, seed))
        assert _decode_kind(bad, ctx) is AuthErrorKind.BAD_CHECKSUM


def test_independent_signer_negative_cases() -> None:
    mode = MODES[0]
    req, key, amz_date, seed = _seed_request(mode, 6, None)
    good = _replace(req, body=_encode([b"abc", b"def"], mode, {}, key, amz_date, seed))
    ctx = verify(good, STORE)
    assert decode_body(good, ctx).payload == b"abcdef"
    wrong_key = _replace(req, body=_encode([b"abc", b"def"], mode, {}, b"k" * 32, amz_date, seed))
    assert _decode_kind(wrong_key, ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE
    unsigned_chunks = _replace(req, body=b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
    assert _decode_kind(unsigned_chunks, ctx) is AuthErrorKind.BAD_CHUNK_SIGNATURE
    with_trailer = _replace(
        req, body=_encode([b"abc", b"def"], mode, {"x-amz-checksum-crc32": "AAAAAA=="}, key, amz_date, seed)
    )
    assert _decode_kind(with_trailer, ctx) is AuthErrorKind.BAD_ENCODING
    # Unsigned trailer variant: declared trailer must arrive; malformed checksum value is refused.
    mode = MODES[2]
    req, key, amz_date, seed = _seed_request(mode, 3, "x-amz-checksum-crc32c")
    ctx = verify(_replace(req, body=b""), STORE)
    missing = _replace(req, body=b"3\r\nabc\r\n0\r\n\r\n")
    assert _decode_kind(missing, ctx) is AuthErrorKind.BAD_ENCODING
    malformed = _replace(req, body=b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32c:not base64!\r\n\r\n")
    assert _decode_kind(malformed, ctx) is AuthErrorKind.INVALID_CHECKSUM
    good = _replace(
        req,
        body=b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32c:"
        + checksum_b64("CRC32C", b"abc").encode()
        + b"\r\n\r\n",
    )
    assert decode_body(good, ctx).payload == b"abc"


# --- checksums ------------------------------------------------------------------


def test_crc_check_values() -> None:
    assert CRC32C.update(b"123456789") == 0xE3069283
    assert CRC64NVME.update(b"123456789") == 0xAE8B14860A799888
    assert checksum_b64("CRC32C", b"a" * 66560) == "sOO8/Q=="  # the value in AWS's trailer example


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=200), cut=st.integers(min_value=0, max_value=200))
def test_crc_matches_bitwise_reference_and_is_incremental(data: bytes, cut: int) -> None:
    for crc, width, poly in ((CRC32C, 32, 0x82F63B78), (CRC64NVME, 64, 0x9A6C9329AC4BC9B5)):
        whole = crc.update(data)
        assert whole == _reference_crc(data, width, poly)
        assert crc.update(data[cut:], crc.update(data[:cut])) == whole
        assert crc.update(memoryview(data)[1:]) == _reference_crc(data[1:], width, poly)


def test_verify_checksums_headers_and_content_md5() -> None:
    payload = b"The quick brown fox"
    md5 = base64.b64encode(hashlib.md5(payload).digest()).decode()
    headers = {
        "x-amz-checksum-crc32": checksum_b64("CRC32", payload),
        "x-amz-checksum-crc64nvme": checksum_b64("CRC64NVME", payload),
        "x-amz-checksum-type": "FULL_OBJECT",
        "x-amz-sdk-checksum-algorithm": "CRC32",
        "content-md5": md5,
    }
    assert verify_checksums(headers, payload) == {
        "CRC32": headers["x-amz-checksum-crc32"], "CRC64NVME": headers["x-amz-checksum-crc64nvme"], "Content-MD5": md5,
    }  # fmt: skip
    for name, value, kind in (
        ("content-md5", base64.b64encode(b"x" * 16).decode(), AuthErrorKind.BAD_CHECKSUM),
        ("content-md5", "nope", AuthErrorKind.INVALID_CHECKSUM),
        ("x-amz-checksum-crc32c", "AAAA", AuthErrorKind.INVALID_CHECKSUM),
        ("x-amz-checksum-sha1", base64.b64encode(b"\0" * 20).decode(), AuthErrorKind.BAD_CHECKSUM),
        ("x-amz-checksum-xxhash64", "AAAAAAAAAAA=", AuthErrorKind.INVALID_CHECKSUM),
    ):
        with pytest.raises(AuthError) as info:
            verify_checksums({**headers, name: value}, payload)
        assert info.value.kind is kind, name


def test_checksum_error_mapping_for_s3() -> None:
    from squall.gateway.auth import auth_error_response
    from squall.protocol.types import Protocol

    with pytest.raises(AuthError) as info:
        verify_checksums({"content-md5": base64.b64encode(b"x" * 16).decode()}, b"abc")
    err = auth_error_response(info.value, Protocol.REST_XML, "s3")
    assert (err.code, err.message) == (
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
    assert err.fields["CalculatedDigest"] == base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    with pytest.raises(AuthError) as info:
        verify_checksums({"x-amz-checksum-crc32": checksum_b64("CRC32", b"x")}, b"abc")
    err = auth_error_response(info.value, Protocol.REST_XML, "s3")
    assert (err.code, err.message) == (
        "BadDigest",
        "The CRC32 you specified did not match the calculated checksum.",
    )
    with pytest.raises(AuthError) as info:
        verify_checksums({"content-md5": "bad"}, b"abc")
    assert auth_error_response(info.value, Protocol.REST_XML, "s3").code == "InvalidDigest"
    with pytest.raises(AuthError) as info:
        verify_checksums({"x-amz-checksum-sha256": "bad"}, b"abc")
    err = auth_error_response(info.value, Protocol.REST_XML, "s3")
    assert (err.code, err.message) == ("InvalidRequest", "Value for x-amz-checksum-sha256 header is invalid.")


def test_anonymous_unsigned_trailer_upload() -> None:
    body = (
        b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + checksum_b64("CRC32", b"hello").encode() + b"\r\n\r\n"
    )
    headers = {"host": "localhost:4566", "content-encoding": "gzip,aws-chunked", "x-amz-decoded-content-length": "5",
               "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32"}  # fmt: skip
    req = HttpRequest("PUT", "/public/obj", "", headers, body)
    with pytest.raises(AuthError):
        verify(req, STORE)
    ctx = verify(req, STORE, allow_anonymous=True)
    assert ctx.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
    decoded = decode_body(req, ctx)
    assert (decoded.payload, decoded.content_encoding) == (b"hello", "gzip")
    signed_chunks = {**headers, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}
    with pytest.raises(AuthError):
        verify(_replace(req, headers=signed_chunks), STORE, allow_anonymous=True)


def test_decoded_request_feeds_the_parser() -> None:
    """aws-chunked upload -> decode_body -> decoded_request -> parse_request: the
    operation sees the payload, the trailer checksum as its member, the decoded length."""
    from dataclasses import replace

    from squall.gateway.auth import AuthContext, AuthMethod, PayloadMode, decode_body, decoded_request
    from squall.protocol.parsers import parse_request
    from squall.protocol.router import Router
    from tests.protocol.wire import request_for

    request = request_for("s3", "PutObject", {"Bucket": "bucket", "Key": "k", "Body": b"x"})
    route = Router().route(request)
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    headers = {
        **request.headers,
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": "11",
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    headers.pop("x-amz-checksum-crc32", None)
    raw = replace(request, body=chunked, headers=headers)
    ctx = AuthContext(AuthMethod.ANONYMOUS, PayloadMode.STREAMING_UNSIGNED_TRAILER)
    parsed = parse_request(route, decoded_request(raw, decode_body(raw, ctx)))
    assert parsed["Body"] == b"hello world"
    assert parsed["ChecksumCRC32"] == "DUoRhQ=="
    assert parsed["ContentLength"] == 11
    assert "ContentEncoding" not in parsed
