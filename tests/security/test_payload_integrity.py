"""A captured signed PutObject replayed with an extra, unsigned `Content-Encoding: aws-chunked`
header and another body must not be stored: aws-chunked decoding follows the signed payload
mode (x-amz-content-sha256), not the header, so the body is checked against the signed hash."""

from __future__ import annotations

import http.client
import uuid
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import RunningServer


def _capture_put(server: RunningServer, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """Put an object with boto3 and keep the signed request as it went on the wire."""
    s3 = server.client("s3", request_checksum_calculation="when_required")
    captured: dict[str, Any] = {}

    def keep(request: Any, **_: Any) -> None:
        captured["url"] = request.url
        captured["headers"] = {
            k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
        }

    s3.meta.events.register("before-send.s3.PutObject", keep)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return captured


def _replay(
    server: RunningServer, captured: dict[str, Any], headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    url = urlsplit(captured["url"])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        sent = {k: v for k, v in captured["headers"].items() if k.lower() != "content-length"}
        sent.update({k.lower(): v for k, v in headers.items()})
        sent["content-length"] = str(len(body))
        conn.request("PUT", url.path + (f"?{url.query}" if url.query else ""), body=body, headers=sent)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_replay_with_unsigned_aws_chunked_header_is_refused(server: RunningServer) -> None:
    s3 = server.client("s3")
    bucket = f"integrity-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    original = b"the body the owner signed"
    captured = _capture_put(server, bucket, "victim.txt", original)
    declared = captured["headers"]["x-amz-content-sha256"]
    assert len(declared) == 64, declared  # the body's hash is what the signature covers

    evil = b"attacker's body"
    framed = f"{len(evil):x}\r\n".encode() + evil + b"\r\n0\r\n\r\n"
    status, body = _replay(
        server,
        captured,
        {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(evil))},
        framed,
    )
    assert status == 400, body
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in body

    # Plain replay with another body (no header trick) is refused the same way.
    status, body = _replay(server, captured, {}, evil)
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body

    assert s3.get_object(Bucket=bucket, Key="victim.txt")["Body"].read() == original
