"""CORS applied to browser requests: preflight OPTIONS and Access-Control-* on actual requests."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import RunningServer
from tests.services.s3.helpers import new_bucket

RULES = [
    {
        "AllowedOrigins": ["https://*.example.com"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def request(server: RunningServer, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    netloc = urlsplit(server.endpoint).netloc
    conn = http.client.HTTPConnection(netloc, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


@pytest.fixture
def bucket(server: RunningServer) -> str:
    s3 = server.client("s3")
    name = new_bucket(s3)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=name, Key="page.html", Body=b"<html/>")
    return name


def test_preflight_allowed(server: RunningServer, bucket: str) -> None:
    status, headers, body = request(
        server, "OPTIONS", f"/{bucket}/page.html",
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
         "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"},
    )  # fmt: skip
    assert status == 200 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    # the wildcard rule answers other origins for GET, with "*"
    status, headers, _ = request(
        server, "OPTIONS", f"/{bucket}/page.html",
        {"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "GET"},
    )  # fmt: skip
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "PUT"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
         "Access-Control-Request-Headers": "authorization"},
    ],
)  # fmt: skip
def test_preflight_denied(server: RunningServer, bucket: str, headers: dict[str, str]) -> None:
    status, _, body = request(server, "OPTIONS", f"/{bucket}/page.html", headers)
    assert status == 403
    assert b"<Code>AccessForbidden</Code>" in body
    assert b"CORSResponse: This CORS request is not allowed." in body
    assert b"<Method>OPTIONS</Method><ResourceType>OBJECT</ResourceType>" in body


def test_preflight_without_cors_or_origin(server: RunningServer) -> None:
    name = new_bucket(server.client("s3"))
    status, _, body = request(
        server, "OPTIONS", f"/{name}/x", {"Origin": "http://a.test", "Access-Control-Request-Method": "GET"}
    )
    assert status == 403 and b"CORSResponse: CORS is not enabled for this bucket." in body
    status, _, body = request(server, "OPTIONS", f"/{name}/x", {"Access-Control-Request-Method": "GET"})
    assert status == 400 and b"Insufficient information. Origin request header needed." in body


def test_actual_requests_get_cors_headers(server: RunningServer, bucket: str) -> None:
    s3 = server.client("s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "page.html"})
    path = url.split(urlsplit(server.endpoint).netloc, 1)[1]
    status, headers, body = request(server, "GET", path, {"Origin": "https://app.example.com"})
    assert status == 200 and body == b"<html/>"
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    status, headers, _ = request(server, "GET", path, {})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"})
    put_path = put.split(urlsplit(server.endpoint).netloc, 1)[1]
    status, headers, _ = request(
        server, "PUT", put_path, {"Origin": "http://other.test", "Content-Length": "0"}
    )
    assert status == 200 and "Access-Control-Allow-Origin" not in headers  # only GET/HEAD for other origins
    head = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "page.html"})
    head_path = head.split(urlsplit(server.endpoint).netloc, 1)[1]
    status, headers, _ = request(server, "HEAD", head_path, {"Origin": "http://other.test"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
