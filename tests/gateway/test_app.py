"""The gateway pipeline driven as a plain ASGI callable (no socket)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from squall.gateway.app import Gateway
from squall.gateway.auth import Credentials, StaticCredentials
from squall.protocol.errors import ServiceError
from squall.protocol.router import Router
from squall.protocol.types import HttpRequest
from squall.services.authorize import Authorizer
from squall.services.base import RequestContext
from squall.services.operations import Operation
from squall.services.registry import ServiceRegistry
from squall.services.sts.provider import StsProvider
from squall.services.sts.sessions import SessionStore
from squall.storage import SQLiteStore
from tests.protocol.wire import parse_response, request_for


class BrokenSts(StsProvider):
    def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("secret internals")


def sessions(tmp_path: Path) -> SessionStore:
    return SessionStore(SQLiteStore(tmp_path / "db.sqlite"))


def make_gateway(provider: StsProvider, authorizer: Authorizer | None = None) -> Gateway:
    creds = StaticCredentials(
        {"test": Credentials("test", "test", "000000000000", "arn:aws:iam::000000000000:root")}
    )
    return Gateway(
        router=Router(),
        credentials=creds,
        services=ServiceRegistry([provider], authorizer),
        endpoint="http://localhost:4566",
        max_body_bytes=1 << 20,
        body_timeout=5,
        clock_skew=900,
    )


def scope_for(request: HttpRequest) -> dict[str, Any]:
    """The ASGI scope uvicorn would build for `request`."""
    return {
        "type": "http",
        "method": request.method,
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": request.query_string.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in request.headers.items()],
    }


def call(app: Gateway, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": request.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope_for(request), receive, send))
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"]


def test_bug_becomes_internal_failure_without_traceback(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    app = make_gateway(BrokenSts({}, sessions(tmp_path)))
    with caplog.at_level(logging.ERROR, logger="squall.gateway"):
        status, _headers, body = call(app, request_for("sts", "GetCallerIdentity", {}))
    assert status == 500
    assert b"<Code>InternalFailure</Code>" in body
    assert b"secret internals" not in body and b"Traceback" not in body
    request_id = body.split(b"<RequestId>")[1].split(b"</RequestId>")[0].decode()
    assert len(request_id) == 36
    assert "secret internals" in caplog.text  # the traceback went to the server log


def test_pipeline_round_trip(tmp_path: Path) -> None:
    from squall.protocol.types import HttpResponse

    app = make_gateway(StsProvider({}, sessions(tmp_path)))
    status, headers, body = call(app, request_for("sts", "GetCallerIdentity", {}))
    assert status == 200
    parsed = parse_response("sts", "GetCallerIdentity", HttpResponse(status, list(headers.items()), body))
    assert parsed["Account"] == "000000000000"
    assert int(headers["content-length"]) == len(body)


def test_urls_handed_out_name_the_host_the_client_used() -> None:
    from squall.gateway.pipeline import _endpoint_for

    assert _endpoint_for("127.0.0.1:4566", "http://localhost:4566") == "http://127.0.0.1:4566"
    assert _endpoint_for("squall.internal:4566", "http://localhost:4566") == "http://squall.internal:4566"
    assert _endpoint_for("", "http://localhost:4566") == "http://localhost:4566"
    assert _endpoint_for("evil.com/x?", "http://localhost:4566") == "http://localhost:4566"


class DenyGetCallerIdentity:
    """An Authorizer that refuses one operation and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, dict[str, Any]]] = []

    def authorize(self, ctx: RequestContext, operation: Operation, params: dict[str, Any]) -> None:
        self.asked.append((ctx.principal.caller_arn, ctx.service, operation.action, params))
        if ctx.operation == "GetCallerIdentity":
            raise ServiceError("AccessDenied", "not allowed", 403)


def test_the_authorize_step_asks_the_registry_authorizer(tmp_path: Path) -> None:
    authorizer = DenyGetCallerIdentity()
    app = make_gateway(StsProvider({}, sessions(tmp_path)), authorizer)
    status, _headers, body = call(app, request_for("sts", "GetCallerIdentity", {}))
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert authorizer.asked == [("arn:aws:iam::000000000000:root", "sts", "sts:GetCallerIdentity", {})]
    # The default authorizer allows every authenticated call.
    status, _headers, _body = call(
        make_gateway(StsProvider({}, sessions(tmp_path))), request_for("sts", "GetCallerIdentity", {})
    )
    assert status == 200
