"""Unauthenticated and replayed requests at the front door (issue 13, items 8 and 9): a stale
SigV2 Date, CR/LF in a presigned response override, anonymous ListBuckets, unsigned calls to
Lambda's REST paths, and connections that never finish their headers (slowloris)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import time
import uuid
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import RunningServer, start_server


def _call(
    server: RunningServer, method: str, target: str, body: bytes | None = None
) -> tuple[int, dict[str, str], str]:
    """(status, headers, body text) of a raw, unsigned request; `target` is a path or a URL."""
    url = urlsplit(target)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def _sigv2_get(server: RunningServer, path: str, date: str) -> tuple[int, bytes]:
    string_to_sign = f"GET\n\n\n{date}\n{path}"
    signature = base64.b64encode(hmac.new(b"test", string_to_sign.encode(), hashlib.sha1).digest()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Date": date, "Authorization": f"AWS test:{signature}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_sigv2_with_a_two_day_old_date_is_refused(server: RunningServer) -> None:
    s3 = server.client("s3")
    bucket = f"v2-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")

    status, body = _sigv2_get(server, f"/{bucket}/k", formatdate(usegmt=True))
    assert (status, body) == (200, b"secret")  # the signature is right

    status, body = _sigv2_get(server, f"/{bucket}/k", formatdate(time.time() - 2 * 86400, usegmt=True))
    assert status == 403, body
    assert b"<Code>RequestTimeTooSkewed</Code>" in body
    assert b"<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in body

    status, body = _sigv2_get(server, f"/{bucket}/k", formatdate(time.time() + 3600, usegmt=True))
    assert status == 403 and b"RequestTimeTooSkewed" in body


def test_presigned_response_content_type_with_crlf_gets_400(server: RunningServer) -> None:
    s3 = server.client("s3")
    bucket = f"crlf-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": "k", "ResponseContentType": "text/html\r\nSet-Cookie: session=evil"},
    )
    status, headers, text = _call(server, "GET", url)
    assert status == 400, text
    assert "<Code>InvalidArgument</Code>" in text
    assert "Set-Cookie" not in headers


def test_anonymous_list_buckets_is_refused(server: RunningServer) -> None:
    server.client("s3").create_bucket(Bucket=f"anon-{uuid.uuid4().hex[:8]}")
    status, _, text = _call(server, "GET", "/")
    assert status == 403
    assert "<Code>AccessDenied</Code>" in text
    assert "<Bucket>" not in text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/2015-03-31/functions/"),
        ("POST", "/2015-03-31/functions/victim/invocations"),
        ("GET", "/2015-03-31/functions/victim"),
        ("GET", "/2018-10-31/layers"),
        ("GET", "/restapis"),  # API Gateway
        ("GET", "/v2/apis"),  # API Gateway v2
        ("GET", "/schedules"),  # EventBridge Scheduler
        ("POST", "/TraceSummaries"),  # X-Ray
    ],
)
def test_unsigned_rest_calls_get_that_service_answer(server: RunningServer, method: str, path: str) -> None:
    status, headers, text = _call(server, method, path, b"{}")
    assert status == 403, text
    error_type = {k.lower(): v for k, v in headers.items()}.get("x-amzn-errortype", "")
    assert error_type.startswith("MissingAuthenticationTokenException"), headers
    assert json.loads(text)["message"] == "Missing Authentication Token"


def test_anonymous_s3_paths_still_reach_s3(server: RunningServer) -> None:
    status, _, text = _call(server, "GET", f"/no-such-bucket-{uuid.uuid4().hex[:6]}/key")
    assert status in (403, 404)
    assert "<Error>" in text


# --- slowloris ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_timeouts(tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    srv = start_server(
        tmp_path_factory.mktemp("slow") / "data", "--header-timeout", "2", "--keep-alive-timeout", "2"
    )
    yield srv  # type: ignore[misc]
    srv.stop()


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> float | None:
    """Seconds until the server closed `sock` (None if it stayed open `seconds`), sending one
    byte of `drip` every half second meanwhile."""
    began = time.monotonic()
    sock.settimeout(0.5)
    i = 0
    while time.monotonic() - began < seconds:
        if i < len(drip):
            try:
                sock.sendall(drip[i : i + 1])
            except OSError:
                return time.monotonic() - began
            i += 1
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - began
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - began
    return None


def test_connection_dripping_its_headers_is_closed(short_timeouts: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", short_timeouts.port)) as sock:
        head = b"GET /_squall/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        closed = _closed_within(sock, 8, drip=head)
    assert closed is not None and closed < 4, closed


def test_connection_sending_nothing_is_closed(short_timeouts: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", short_timeouts.port)) as sock:
        closed = _closed_within(sock, 8)
    assert closed is not None and closed < 4, closed


def test_idle_keep_alive_connection_is_closed_and_requests_still_work(short_timeouts: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", short_timeouts.port)) as sock:
        sock.sendall(b"GET /_squall/health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        closed = _closed_within(sock, 8)
    assert closed is not None and closed < 4, closed
    # Normal keep-alive use is unaffected: several requests on one connection.
    conn = http.client.HTTPConnection("127.0.0.1", short_timeouts.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/_squall/health")
        assert conn.getresponse().read()
    conn.close()


def test_worker_processes_close_slow_connections_too(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--workers", "2", "--header-timeout", "2")
    try:
        for _ in range(4):  # SO_REUSEPORT spreads connections over the primary and the worker
            with socket.create_connection(("127.0.0.1", srv.port)) as sock:
                closed = _closed_within(sock, 8, drip=b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100)
            assert closed is not None and closed < 4, closed
    finally:
        srv.stop()
