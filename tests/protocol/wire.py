"""botocore as the reference peer for codec tests.

`request_for` runs a real botocore client (serializer, handlers, signer) for
one operation and captures the HTTP request it would send, without sending
it. `parse_response` runs botocore's own response parser over bytes we made.
"""

from __future__ import annotations

import functools
import io
from typing import Any
from urllib.parse import urlsplit

import botocore.config
import botocore.parsers
import botocore.session
from botocore.awsrequest import AWSPreparedRequest

from squall.protocol.models import service_model
from squall.protocol.types import HttpRequest, HttpResponse

ENDPOINT = "http://localhost:4566"


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


@functools.cache
def client(service: str, addressing: str = "path", access_key: str = "test", secret: str = "test") -> Any:
    session = botocore.session.get_session()
    cfg = botocore.config.Config(
        retries={"max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": addressing},
        parameter_validation=False,
    )
    c = session.create_client(
        service,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=cfg,
    )

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    c.meta.events.register_first("before-send", capture)
    return c


def request_for(service: str, operation: str, params: dict[str, Any], **client_opts: Any) -> HttpRequest:
    """The HttpRequest botocore sends for `operation(**params)`."""
    c = client(service, **client_opts)
    method = (
        c.meta.method_to_api_mapping and {v: k for k, v in c.meta.method_to_api_mapping.items()}[operation]
    )
    try:
        getattr(c, method)(**params)
    except _Captured as cap:
        return to_http_request(cap.request)
    raise AssertionError("botocore sent nothing")


def to_http_request(req: AWSPreparedRequest) -> HttpRequest:
    parts = urlsplit(req.url)
    headers: dict[str, str] = {}
    for k, v in req.headers.items():
        val = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        headers[k.lower()] = val
    headers.setdefault("host", parts.netloc)
    body = req.body
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body.read()
    return HttpRequest(
        method=req.method, path=parts.path or "/", query_string=parts.query, headers=headers, body=data
    )


def parse_response(
    service: str, operation: str, response: HttpResponse, protocol: str | None = None
) -> dict[str, Any]:
    """What botocore's parser makes of our response (output or error)."""
    model = service_model(service)
    op = model.operation_model(operation)
    proto = protocol or model.metadata["protocol"]
    parser = botocore.parsers.create_parser(proto)
    headers: dict[str, str] = {}
    for k, v in response.headers:
        headers[k.lower()] = v if k.lower() not in headers else headers[k.lower()] + "," + v
    from botocore.awsrequest import HeadersDict

    body: Any = response.body
    if op.has_streaming_output and response.status < 300:
        # as botocore's endpoint does: a streaming success payload reaches the parser as a stream
        from botocore.response import StreamingBody

        body = StreamingBody(io.BytesIO(response.body), len(response.body))
    return parser.parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(headers),
            "body": body,
            "context": {"operation_name": operation},
        },
        op.output_shape,
    )
