"""Units: the delivering sink with test doubles for SQS and SNS, a fake clock for EventAgeExceeded,
delivery failures counted in the metrics, and the event leaving the queue either way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.engine.asyncq import AsyncEvent
from squall.protocol.errors import ServiceError
from squall.services.base import not_implemented
from squall.services.calls import Calls
from squall.services.context import Principal, RequestContext
from squall.services.lambda_.destinations import DEAD_LETTER_ERRORS, DESTINATION_FAILURES
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.inprocess import RegistryDouble
from tests.services.lambda_.helpers import ROLE, make_zip
from tests.services.lambda_.test_functions_directory import FakeLayers, ctx

ACCOUNT, REGION = "000000000000", "us-east-1"
T = 1_700_000_000.0
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:failures"
DLQ_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:dead-letters"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:records"


class FakeServices(RegistryDouble):
    """The other services as the in-process client reaches them: records SNS publishes and SQS
    sends (each validated against the model by the client), refuses unknown topics like SNS and
    services that are not served like the registry."""

    def __init__(self) -> None:
        self.served = {"sqs", "sns"}
        self.topics: set[str] = set()
        self.published: list[dict[str, Any]] = []
        self.sent: list[tuple[str, str, dict[str, Any] | None]] = []
        self.principals: list[Principal] = []

    async def dispatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.service not in self.served:
            raise not_implemented(ctx.service, ctx.operation)
        self.principals.append(ctx.principal)
        if (ctx.service, ctx.operation) == ("sns", "Publish"):
            if params["TopicArn"] not in self.topics:
                raise ServiceError("NotFound", "Topic does not exist", 404)
            attributes = params.get("MessageAttributes")
            self.published.append(
                {"topic": params["TopicArn"], "message": params["Message"], "attributes": attributes}
            )
            return {"MessageId": f"m-{len(self.published)}"}
        assert (ctx.service, ctx.operation) == ("sqs", "SendMessage")
        self.sent.append((params["QueueUrl"], params["MessageBody"], params.get("MessageAttributes")))
        return {"MessageId": "id", "MD5OfMessageBody": ""}


def call(p: LambdaProvider, operation: str, **params: Any) -> dict[str, Any]:
    return asyncio.run(p.dispatch(ctx(operation), params))


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
def provider(tmp_path: Path, services: FakeServices) -> Iterator[LambdaProvider]:
    data = DataDir.open(tmp_path / "data")
    try:
        p = LambdaProvider(
            data.store,
            data.blobs,
            layers=FakeLayers(),
            code_root=tmp_path / "code",
            calls=Calls(services, "http://localhost:4566"),
        )
        p.async_queue.clock = lambda: T
        yield p
    finally:
        data.close()


def make_function(p: LambdaProvider, name: str, dlq: str | None = None, **invoke_config: Any) -> None:
    extra = {"DeadLetterConfig": {"TargetArn": dlq}} if dlq else {}
    code = {"ZipFile": make_zip()}
    call(
        p,
        "CreateFunction",
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code=code,
        **extra,
    )
    call(p, "PutFunctionEventInvokeConfig", FunctionName=name, **invoke_config)


def expire(p: LambdaProvider, name: str, payload: bytes = b'{"order": 7}') -> None:
    """Queue an event already older than 60 s and process it (it is dropped without running)."""
    p.async_queue.enqueue(AsyncEvent("req-1", ACCOUNT, REGION, name, None, payload, T - 61))
    assert asyncio.run(p.async_queue.process_due()) == 1
    assert all(e.event_id != "req-1" for e in p.async_queue.pending())  # the event left the queue


def metric(p: LambdaProvider, name: str, metric_name: str) -> float:
    points = p.telemetry.metrics.read(ACCOUNT, REGION, "AWS/Lambda", metric_name, {"FunctionName": name})
    return sum(dp.stat.sum for dp in points)


def test_event_age_exceeded_goes_to_the_on_failure_topic_and_the_dlq(
    provider: LambdaProvider, services: FakeServices
) -> None:
    topics = services
    topics.topics = {TOPIC, DLQ_TOPIC}
    make_function(
        provider,
        "aged",
        dlq=DLQ_TOPIC,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": TOPIC}},
    )
    expire(provider, "aged")
    record, dead = topics.published
    assert record["topic"] == TOPIC and record["attributes"] is None
    body = json.loads(record["message"])
    assert body["requestContext"] == {
        "requestId": "req-1",
        "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:aged:$LATEST",
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert body["requestPayload"] == {"order": 7} and "responseContext" not in body
    assert dead["topic"] == DLQ_TOPIC and dead["message"] == '{"order": 7}'
    assert dead["attributes"]["RequestID"] == {"DataType": "String", "StringValue": "req-1"}
    assert dead["attributes"]["ErrorCode"]["DataType"] == "Number"
    assert dead["attributes"]["ErrorMessage"]["DataType"] == "String"
    assert metric(provider, "aged", DESTINATION_FAILURES) == 0
    # sent as the function's execution role, as on AWS
    assert {p.caller_arn for p in services.principals} == {
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE.rsplit('/', 1)[1]}/aged"
    }
    (entry,) = provider.outcomes.recent_outcomes(ACCOUNT, REGION, "aged")
    assert [d["delivered"] for d in entry["destinations"]] == [True, True]


def test_missing_targets_are_counted_and_the_event_is_dropped(
    provider: LambdaProvider, services: FakeServices
) -> None:
    topics = services  # neither topic exists
    make_function(
        provider,
        "lost",
        dlq=DLQ_TOPIC,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": TOPIC}},
    )
    expire(provider, "lost")
    assert topics.published == []
    assert metric(provider, "lost", DESTINATION_FAILURES) == 1
    assert metric(provider, "lost", DEAD_LETTER_ERRORS) == 1
    (entry,) = provider.outcomes.recent_outcomes(ACCOUNT, REGION, "lost")
    assert [(d["delivered"], d["error"]) for d in entry["destinations"]] == [
        (False, "Topic does not exist"),
        (False, "Topic does not exist"),
    ]


def test_fifo_and_unreachable_targets_fail(provider: LambdaProvider, services: FakeServices) -> None:
    queues = services
    services.served = {"sqs"}  # no SNS in this server
    make_function(
        provider,
        "fifo",
        dlq=DLQ_TOPIC,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": QUEUE + ".fifo"}},
    )
    expire(provider, "fifo")
    assert queues.sent == []
    assert metric(provider, "fifo", DESTINATION_FAILURES) == 1
    assert metric(provider, "fifo", DEAD_LETTER_ERRORS) == 1


def test_lambda_destination_is_an_async_event_of_the_target(provider: LambdaProvider) -> None:
    make_function(provider, "target", MaximumRetryAttempts=0)
    dest = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:target"
    make_function(
        provider,
        "source",
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": dest}},
    )
    expire(provider, "source")
    (queued,) = provider.async_queue.pending()
    assert queued.function == "target" and queued.account == ACCOUNT
    record = json.loads(queued.payload)
    assert record["requestContext"]["functionArn"].endswith(":function:source:$LATEST")
    assert record["requestContext"]["condition"] == "EventAgeExceeded"


def test_sqs_destination_body_is_the_record(provider: LambdaProvider, services: FakeServices) -> None:
    queues = services
    make_function(
        provider, "q", MaximumEventAgeInSeconds=60, DestinationConfig={"OnFailure": {"Destination": QUEUE}}
    )
    expire(provider, "q", b"not json")
    ((ref, body, attributes),) = queues.sent
    assert ref == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/records" and attributes is None
    assert json.loads(body)["requestPayload"] == "not json"
