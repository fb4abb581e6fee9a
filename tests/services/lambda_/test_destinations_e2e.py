"""Async-invoke destinations and dead-letter queues end to end: boto3 against a real server whose
retry base is 0.1 s; what SQS queues receive is read back with ReceiveMessage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall.engine.host import discover_interpreters
from squall.observability import Metrics
from squall.services.lambda_.async_outcomes import NS as OUTCOMES_NS
from squall.storage import DataDir, pack
from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import ACCOUNT, create, make_zip, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("boom: " + str(event["fail"]))
    return {"seen": event}
"""
ENV = {"SQUALL_ASYNC_RETRY_BASE_SECONDS": "0.1"}
REGION = "us-east-1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("dest") / "data", env=ENV)
    yield server
    server.stop()


def new_function(lam: Any, **kw: Any) -> str:
    name = unique("dest")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(APP)}, Timeout=30, **kw)
    return name


def new_queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive_one(sqs: Any, url: str, timeout: float = 40) -> dict[str, Any]:
    waited = 0.0
    while waited < timeout:
        out = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=["All"])
        if out.get("Messages"):
            (msg,) = out["Messages"]
            return dict(msg)
        waited += 5
    raise AssertionError(f"nothing arrived in {url}")


def invoke_event(lam: Any, name: str, event: Any) -> str:
    out = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())
    assert out["StatusCode"] == 202
    return str(out["ResponseMetadata"]["RequestId"])


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def test_on_failure_sqs_gets_the_record(srv: RunningServer) -> None:
    lam, sqs = srv.client("lambda"), srv.client("sqs")
    url, arn = new_queue(sqs)
    name = new_function(lam)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": arn}}
    )
    rid = invoke_event(lam, name, {"fail": 1})
    record = json.loads(receive_one(sqs, url)["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": rid,
        "functionArn": fn_arn(name) + ":$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"fail": 1}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "boom: 1"
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_on_success_sqs_gets_the_record(srv: RunningServer) -> None:
    lam, sqs = srv.client("lambda"), srv.client("sqs")
    url, arn = new_queue(sqs)
    name = new_function(lam)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    rid = invoke_event(lam, name, {"x": 1})
    record = json.loads(receive_one(sqs, url)["Body"])
    assert record["requestContext"]["requestId"] == rid
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"seen": {"x": 1}}


def test_on_failure_lambda_runs_the_second_function_with_the_record(srv: RunningServer) -> None:
    lam, sqs = srv.client("lambda"), srv.client("sqs")
    url, arn = new_queue(sqs)
    second = new_function(lam)  # its own OnSuccess shows what it received
    lam.put_function_event_invoke_config(
        FunctionName=second, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    first = new_function(lam)
    lam.put_function_event_invoke_config(
        FunctionName=first,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": fn_arn(second)}},
    )
    rid = invoke_event(lam, first, {"fail": "chain"})
    outer = json.loads(receive_one(sqs, url)["Body"])
    assert outer["requestContext"]["functionArn"] == fn_arn(second) + ":$LATEST"
    inner = outer["requestPayload"]  # the record the second function was invoked with
    assert inner["requestContext"]["requestId"] == rid
    assert inner["requestContext"]["functionArn"] == fn_arn(first) + ":$LATEST"
    assert inner["requestContext"]["condition"] == "RetriesExhausted"
    assert outer["responsePayload"] == {"seen": inner}


def test_dead_letter_queue_gets_the_event_with_attributes(srv: RunningServer) -> None:
    lam, sqs = srv.client("lambda"), srv.client("sqs")
    url, arn = new_queue(sqs)
    name = new_function(lam, DeadLetterConfig={"TargetArn": arn})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": arn}
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    rid = invoke_event(lam, name, {"fail": "dlq"})
    msg = receive_one(sqs, url)
    assert json.loads(msg["Body"]) == {"fail": "dlq"}
    assert msg["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": rid},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom: dlq"},
    }


def test_deleted_destination_queue_counts_a_delivery_failure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, env=ENV)
    try:
        lam, sqs = server.client("lambda"), server.client("sqs")
        gone_url, gone_arn = new_queue(sqs)
        dlq_url, dlq_arn = new_queue(sqs)
        name = new_function(lam, DeadLetterConfig={"TargetArn": dlq_arn})
        lam.put_function_event_invoke_config(
            FunctionName=name,
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": gone_arn}},
        )
        sqs.delete_queue(QueueUrl=gone_url)
        invoke_event(lam, name, {"fail": "gone"})
        receive_one(sqs, dlq_url)  # the DLQ is still delivered to; the outcome is recorded with it
    finally:
        server.stop()
    dd = DataDir.open(data)
    try:
        metrics = Metrics(dd.store)
        dims = {"FunctionName": name}
        failures = metrics.read(ACCOUNT, REGION, "AWS/Lambda", "DestinationDeliveryFailures", dims)
        assert sum(dp.stat.sum for dp in failures) == 1
        assert metrics.read(ACCOUNT, REGION, "AWS/Lambda", "DeadLetterErrors", dims) == []
        with dd.store.read() as r:
            (entry,) = [json.loads(v) for _, v in r.scan(OUTCOMES_NS, prefix=pack(ACCOUNT, REGION, name))]
    finally:
        dd.close()
    failed, dead = entry["destinations"]
    assert failed["kind"] == "OnFailure" and failed["delivered"] is False
    assert "does not exist" in failed["error"]
    assert dead == {"kind": "DeadLetterConfig", "arn": dlq_arn, "delivered": True}


def test_dead_letter_config_must_be_a_queue_or_topic(srv: RunningServer) -> None:
    lam = srv.client("lambda")
    name = new_function(lam)
    bad = {
        fn_arn(name): "InvalidParameterValueException",
        "arn:aws:s3:::bucket": "InvalidParameterValueException",
        "not-an-arn": "ValidationException",  # the model's pattern
    }
    for arn, code in bad.items():
        with pytest.raises(ClientError) as err:
            lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": arn})
        assert err.value.response["Error"]["Code"] == code
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    topic = f"arn:aws-cn:sns:cn-north-1:{ACCOUNT}:alerts"
    out = lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": topic})
    assert out["DeadLetterConfig"] == {"TargetArn": topic}
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    out = lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in out or not out["DeadLetterConfig"].get("TargetArn")


def test_on_failure_sns_fans_the_record_out(srv: RunningServer) -> None:
    lam, sqs, sns = srv.client("lambda"), srv.client("sqs"), srv.client("sns")
    url, queue_arn = new_queue(sqs)
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    name = new_function(lam)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": topic}}
    )
    rid = invoke_event(lam, name, {"fail": "sns"})
    envelope = json.loads(receive_one(sqs, url)["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    record = json.loads(envelope["Message"])
    assert record["requestContext"]["requestId"] == rid
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"fail": "sns"}
    assert record["responseContext"]["functionError"] == "Unhandled"
