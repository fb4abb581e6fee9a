"""In-process: the door other services use to deliver async events to a function (policy checked)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.services.lambda_.helpers import ROLE, make_zip
from tests.services.lambda_.test_functions_directory import FakeLayers, ctx

A, R = "000000000000", "us-east-1"
TOPIC = f"arn:aws:sns:{R}:{A}:t"
SNS = Principal.for_service("sns.amazonaws.com", A, source_arn=TOPIC)
ROOT = Principal.root(A)


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[LambdaProvider]:
    data = DataDir.open(tmp_path / "data")
    try:
        p = LambdaProvider(data.store, data.blobs, layers=FakeLayers(), code_root=tmp_path / "code")
        call(
            p,
            "CreateFunction",
            FunctionName="f",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip()},
        )
        yield p
    finally:
        data.close()


def call(p: LambdaProvider, operation: str, **params: Any) -> dict[str, Any]:
    return asyncio.run(p.dispatch(ctx(operation), params))


def test_a_service_needs_the_function_policy(provider: LambdaProvider) -> None:
    events = provider.events
    assert not events.allowed(SNS, "f", region=R)
    with pytest.raises(ServiceError) as err:
        events.submit(SNS, "f", b"{}", region=R)
    assert err.value.code == "AccessDeniedException" and err.value.status == 403
    assert provider.async_queue.pending() == []
    call(
        provider,
        "AddPermission",
        FunctionName="f",
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=TOPIC,
    )
    assert events.allowed(SNS, "f", region=R)
    assert not events.allowed(
        Principal.for_service("sns.amazonaws.com", A, source_arn=TOPIC + "-other"), "f", region=R
    )
    rid = events.submit(SNS, f"arn:aws:lambda:{R}:{A}:function:f", b'{"a": 1}', region=R)
    [queued] = provider.async_queue.pending()
    assert (queued.event_id, queued.function, json.loads(queued.payload)) == (rid, "f", {"a": 1})


def test_the_own_account_needs_no_policy_and_missing_functions_are_refused(provider: LambdaProvider) -> None:
    events = provider.events
    events.submit(ROOT, "f", b"{}", region=R)
    assert len(provider.async_queue.pending()) == 1
    assert not events.allowed(ROOT, "missing", region=R)
    with pytest.raises(ServiceError) as err:
        events.submit(ROOT, "missing", b"{}", region=R)
    assert err.value.code == "ResourceNotFoundException"
    with pytest.raises(ServiceError) as err:
        events.submit(ROOT, "f:nope", b"{}", region=R)
    assert err.value.code == "ResourceNotFoundException"
    with pytest.raises(ServiceError) as err:
        events.submit(ROOT, "f", b"x" * (1_048_576 + 1), region=R)
    assert err.value.code == "RequestEntityTooLargeException"


def test_hostile_another_accounts_bucket_cannot_use_a_grant_meant_for_the_owners_buckets(
    provider: LambdaProvider,
) -> None:
    """The function's owner lets S3 invoke it for buckets of its own account (SourceAccount).
    A bucket of another account, named like the owner's, acting through S3's principal, is
    refused by the event door, and nothing reaches the function's queue."""
    attacker = "999999999999"
    call(
        provider,
        "AddPermission",
        FunctionName="f",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::uploads",
        SourceAccount=A,
    )
    arn = f"arn:aws:lambda:{R}:{A}:function:f"
    owner_s3 = Principal.for_service("s3.amazonaws.com", A, source_arn="arn:aws:s3:::uploads")
    hostile_s3 = Principal.for_service("s3.amazonaws.com", attacker, source_arn="arn:aws:s3:::uploads")
    assert provider.events.allowed(owner_s3, arn, region=R)
    assert not provider.events.allowed(hostile_s3, arn, region=R)
    with pytest.raises(ServiceError) as err:
        provider.events.submit(hostile_s3, arn, b"{}", region=R)
    assert err.value.code == "AccessDeniedException"
    assert provider.async_queue.pending() == []
