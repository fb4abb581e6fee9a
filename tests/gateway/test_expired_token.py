"""Expired STS session credentials: ExpiredToken in each protocol family, not an unknown key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from squall.config import RootKey
from squall.gateway.app import Gateway
from squall.gateway.credentials import AccountCredentials
from squall.protocol.router import Router
from squall.protocol.types import HttpRequest, HttpResponse
from squall.services.registry import ServiceRegistry
from squall.services.sts.provider import StsProvider
from squall.services.sts.sessions import EXPIRED_RETENTION_S, SessionCredentials, SessionStore
from squall.storage import SQLiteStore
from tests.gateway.test_app import call
from tests.protocol.wire import parse_response, request_for

ACCOUNT = "000000000000"
EXPIRED = "The security token included in the request is expired"


@pytest.fixture
def sessions(tmp_path: Path) -> SessionStore:
    return SessionStore(SQLiteStore(tmp_path / "db.sqlite"))


@pytest.fixture
def gateway(sessions: SessionStore) -> Gateway:
    return Gateway(
        router=Router(),
        credentials=AccountCredentials([RootKey("test", "test", ACCOUNT)], sessions),
        services=ServiceRegistry([StsProvider({"test": ACCOUNT}, sessions)]),
        endpoint="http://localhost:4566",
        max_body_bytes=1 << 20,
        body_timeout=5,
        clock_skew=900,
    )


def _signed(creds: SessionCredentials, service: str, operation: str, token: str | None = None) -> HttpRequest:
    req = request_for(service, operation, {}, access_key=creds.access_key_id, secret=creds.secret_access_key)
    req.headers["x-amz-security-token"] = creds.session_token if token is None else token
    return req


def _call(app: Gateway, service: str, operation: str, request: HttpRequest) -> dict[str, Any]:
    status, headers, body = call(app, request)
    return parse_response(service, operation, HttpResponse(status, list(headers.items()), body))


@pytest.mark.parametrize(
    ("service", "operation", "code", "message", "status"),
    [
        ("sts", "GetCallerIdentity", "ExpiredToken", EXPIRED, 403),  # query
        ("dynamodb", "ListTables", "ExpiredTokenException", EXPIRED, 400),  # json
        ("lambda", "ListFunctions", "ExpiredTokenException", EXPIRED, 403),  # rest-json
        ("s3", "ListBuckets", "ExpiredToken", "The provided token has expired.", 400),  # rest-xml (S3)
    ],
)
def test_expired_session_credentials_get_expired_token(
    gateway: Gateway,
    sessions: SessionStore,
    service: str,
    operation: str,
    code: str,
    message: str,
    status: int,
) -> None:
    dead = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", 0)
    parsed = _call(gateway, service, operation, _signed(dead, service, operation))
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert (parsed["Error"]["Code"], parsed["Error"]["Message"]) == (code, message)


def test_live_sessions_work_and_a_wrong_token_is_still_invalid(
    gateway: Gateway, sessions: SessionStore
) -> None:
    live = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", 900)
    parsed = _call(gateway, "sts", "GetCallerIdentity", _signed(live, "sts", "GetCallerIdentity"))
    assert parsed["Account"] == ACCOUNT
    dead = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", 0)
    wrong = _signed(dead, "sts", "GetCallerIdentity", token="not-the-token")
    parsed = _call(gateway, "sts", "GetCallerIdentity", wrong)
    assert parsed["Error"]["Code"] == "InvalidClientTokenId"


def test_long_expired_sessions_are_forgotten(gateway: Gateway, sessions: SessionStore) -> None:
    gone = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", -int(EXPIRED_RETENTION_S) - 60)
    assert sessions.find(gone.access_key_id) is None
    parsed = _call(gateway, "sts", "GetCallerIdentity", _signed(gone, "sts", "GetCallerIdentity"))
    assert parsed["Error"]["Code"] == "InvalidClientTokenId"


def test_expired_sessions_are_found_but_not_live(sessions: SessionStore) -> None:
    dead = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", 0)
    assert sessions.lookup(dead.access_key_id) is None
    assert sessions.find(dead.access_key_id) == dead
