"""Units: AWS's destination invocation record, the dead-letter message, and the recording sink."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from squall.engine.asyncq import (
    EVENT_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    SUCCESS,
    AsyncEvent,
    AsyncOutcome,
    Attempt,
    AttemptKind,
)
from squall.services.lambda_.async_invoke import destination_record, destinations_for, dlq_message
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.services.lambda_.helpers import ROLE, make_zip
from tests.services.lambda_.test_functions_directory import FakeLayers, ctx

ACCOUNT, REGION = "000000000000", "us-east-1"
T = 1_573_755_365.568  # 2019-11-14T18:16:05.568Z
FAILED = Attempt(
    AttemptKind.FUNCTION_ERROR,
    b'{"errorMessage": "RequestId: e4b4 Process exited before completing request", "errorType": "X"}',
    "$LATEST",
    "Unhandled",
)


def outcome(
    condition: str, last: Attempt | None, attempts: int = 3, qualifier: str | None = None
) -> AsyncOutcome:
    event = AsyncEvent(
        "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
        ACCOUNT,
        REGION,
        "my-function",
        qualifier,
        b'{"key": "value"}',
        T - 200,
        attempts=attempts,
        last_error="Throttled: Rate Exceeded." if last is None else None,
        throttles=1 if last is None else 0,
    )
    return AsyncOutcome(event, condition, last, T)


def test_failure_record_matches_aws() -> None:
    assert destination_record(outcome(RETRIES_EXHAUSTED, FAILED)) == {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:my-function:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"key": "value"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": "RequestId: e4b4 Process exited before completing request",
            "errorType": "X",
        },
    }


def test_success_record_is_qualified_as_executed() -> None:
    ok = Attempt(AttemptKind.SUCCESS, b"null", "3")
    record = destination_record(outcome(SUCCESS, ok, attempts=1, qualifier="live"))
    assert record["requestContext"]["functionArn"].endswith(":function:my-function:3")
    assert record["requestContext"]["condition"] == "Success"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "3"}
    assert record["responsePayload"] is None


def test_event_age_exceeded_without_a_run_has_no_response() -> None:
    record = destination_record(outcome(EVENT_AGE_EXCEEDED, None, attempts=0))
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record and "responsePayload" not in record


def test_dlq_message_is_the_event_with_attributes() -> None:
    msg = dlq_message(outcome(RETRIES_EXHAUSTED, FAILED))
    assert msg.body == b'{"key": "value"}'
    assert msg.attributes == {
        "RequestID": ("String", "e4b46cbf-b738-xmpl-8880-a18cdf61200e"),
        "ErrorCode": ("Number", "200"),
        "ErrorMessage": ("String", "RequestId: e4b4 Process exited before completing request"),
    }
    throttled = dlq_message(outcome(EVENT_AGE_EXCEEDED, None))
    assert throttled.attributes["ErrorCode"] == ("Number", "429")
    assert throttled.attributes["ErrorMessage"] == ("String", "Throttled: Rate Exceeded.")
    long = Attempt(
        AttemptKind.FUNCTION_ERROR, json.dumps({"errorMessage": "x" * 5000}).encode(), "1", "Unhandled"
    )
    assert len(dlq_message(outcome(RETRIES_EXHAUSTED, long)).attributes["ErrorMessage"][1]) == 1024
    with pytest.raises(ValueError):
        dlq_message(outcome(SUCCESS, Attempt(AttemptKind.SUCCESS, b"{}", "1")))


def test_destinations_for() -> None:
    dest = {"OnSuccess": {"Destination": "arn:s"}, "OnFailure": {"Destination": "arn:f"}}
    dlq = {"DeadLetterConfig": {"TargetArn": "arn:dlq"}}
    ok = outcome(SUCCESS, Attempt(AttemptKind.SUCCESS, b"{}", "1"))
    assert destinations_for(ok, dest, dlq) == [("OnSuccess", "arn:s")]
    failed = outcome(RETRIES_EXHAUSTED, FAILED)
    assert destinations_for(failed, dest, dlq) == [("OnFailure", "arn:f"), ("DeadLetterConfig", "arn:dlq")]
    assert destinations_for(failed, {}, {}) == []


def call(p: LambdaProvider, operation: str, **params: Any) -> dict[str, Any]:
    return asyncio.run(p.dispatch(ctx(operation), params))


def test_recording_sink_keeps_bounded_durable_records(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path / "data")
    try:
        p = LambdaProvider(data.store, data.blobs, layers=FakeLayers(), code_root=tmp_path / "code")
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
        call(
            p,
            "CreateFunction",
            FunctionName="my-function",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip()},
            DeadLetterConfig={"TargetArn": queue},
        )
        failure = f"arn:aws:sns:{REGION}:{ACCOUNT}:failures"
        call(
            p,
            "PutFunctionEventInvokeConfig",
            FunctionName="my-function",
            DestinationConfig={"OnFailure": {"Destination": failure}},
        )
        p.outcomes.keep = 3
        for _ in range(5):
            asyncio.run(p.outcomes.deliver(outcome(RETRIES_EXHAUSTED, FAILED)))
        entries = p.outcomes.recent_outcomes(ACCOUNT, REGION, "my-function")
        assert len(entries) == 3
        entry = entries[-1]
        assert entry["condition"] == "RetriesExhausted"
        assert entry["destinations"] == [
            {"kind": "OnFailure", "arn": failure},
            {"kind": "DeadLetterConfig", "arn": queue},
        ]
        assert entry["record"] == destination_record(outcome(RETRIES_EXHAUSTED, FAILED))
        assert entry["deadLetter"]["attributes"]["ErrorCode"] == {"DataType": "Number", "Value": "200"}
    finally:
        data.close()


def test_runner_drops_event_of_deleted_function_and_reads_policy(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path / "data")
    try:
        p = LambdaProvider(data.store, data.blobs, layers=FakeLayers(), code_root=tmp_path / "code")
        runner = p.async_queue.runner
        call(
            p,
            "CreateFunction",
            FunctionName="fn",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip()},
        )
        call(p, "PutFunctionEventInvokeConfig", FunctionName="fn", MaximumRetryAttempts=0)
        call(p, "PutFunctionConcurrency", FunctionName="fn", ReservedConcurrentExecutions=5)
        event = AsyncEvent("rid", ACCOUNT, REGION, "fn", None, b"{}", T)
        policy = runner.policy(event)
        assert (policy.max_retries, policy.max_age_s, policy.concurrency) == (0, 21600, 5)
        call(p, "DeleteFunction", FunctionName="fn")
        attempt = asyncio.run(runner.run(event))
        assert attempt.kind is AttemptKind.GONE
    finally:
        data.close()
