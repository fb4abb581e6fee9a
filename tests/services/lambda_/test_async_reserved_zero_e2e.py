"""Asynchronous events of a function throttled by a reserved concurrency of 0 end on the
on-failure destination or the dead-letter queue once their maximum age passes.

AWS: "If the function doesn't have enough concurrency available to process all events,
additional requests are throttled. For throttling errors (429) and system errors (500-series),
Lambda returns the event to the queue and attempts to run the function again for up to 6 hours
... When the queue is very long, new events might age out before Lambda has a chance to send
them to your function. When an event expires or fails all processing attempts, Lambda discards
it" unless a dead-letter queue or on-failure destination is configured
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html), the record's
condition being "EventAgeExceeded" (https://docs.aws.amazon.com/lambda/latest/dg/
invocation-async-retain-records.html). MaximumEventAgeInSeconds is 60 at least
(PutFunctionEventInvokeConfig), so each event waits about a minute.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.services.lambda_.helpers import create, unique


def _queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("rz"))["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _receive(sqs: Any, url: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=["All"])
        if got.get("Messages"):
            return dict(got["Messages"][0])
    raise AssertionError(f"nothing arrived in {url}")


def test_reserved_zero_sends_aged_events_to_on_failure_and_dlq(server) -> None:  # type: ignore[no-untyped-def]
    lam, sqs = server.client("lambda"), server.client("sqs")
    dest_url, dest_arn = _queue(sqs)
    dlq_url, dlq_arn = _queue(sqs)
    with_dest, with_dlq = unique("rz"), unique("rz")
    create(lam, with_dest)
    create(lam, with_dlq, DeadLetterConfig={"TargetArn": dlq_arn})
    for name in (with_dest, with_dlq):
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=with_dest,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    lam.put_function_event_invoke_config(FunctionName=with_dlq, MaximumEventAgeInSeconds=60)
    sent = time.monotonic()
    out = lam.invoke(FunctionName=with_dest, InvocationType="Event", Payload=b'{"n": 1}')
    assert out["StatusCode"] == 202  # accepted: throttling happens in the async queue
    rid = out["ResponseMetadata"]["RequestId"]
    out = lam.invoke(FunctionName=with_dlq, InvocationType="Event", Payload=b'{"n": 2}')
    assert out["StatusCode"] == 202
    dlq_rid = out["ResponseMetadata"]["RequestId"]

    record = json.loads(_receive(sqs, dest_url)["Body"])
    assert time.monotonic() - sent >= 55  # retried until the maximum age, not given up earlier
    assert record["requestContext"]["requestId"] == rid
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"n": 1}

    msg = _receive(sqs, dlq_url)
    assert json.loads(msg["Body"]) == {"n": 2}
    assert msg["MessageAttributes"]["RequestID"]["StringValue"] == dlq_rid
