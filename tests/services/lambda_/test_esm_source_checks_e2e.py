"""CreateEventSourceMapping on an SQS queue checks the queue as AWS does: it must exist, and its
visibility timeout must be at least the function's timeout.

Expectations: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html ("set the
source queue's visibility timeout to at least ... the timeout that you configure on your
function"); AWS's answer "Queue visibility timeout: 30 seconds is less than Function timeout: 300
seconds" (InvalidParameterValueException, as CloudFormation and the Serverless Framework relay
it); for a missing queue, "Error occurred while ReceiveMessage. SQS Error Code:
AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: ..." (LocalStack's AWS-recorded
snapshot of CreateEventSourceMapping, localstack/localstack#12297).
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import create


def _queue(sqs, **attributes: str) -> str:  # type: ignore[no-untyped-def]
    url = sqs.create_queue(QueueName=f"chk-{uuid.uuid4().hex[:10]}", Attributes=attributes)["QueueUrl"]
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def test_missing_queue_is_refused(server) -> None:  # type: ignore[no-untyped-def]
    lam, sqs = server.client("lambda"), server.client("sqs")
    name = f"chk-{uuid.uuid4().hex[:10]}"
    create(lam, name)
    arn = _queue(sqs).rsplit(":", 1)[0] + ":no-such-queue"
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Message"].startswith(
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
        "SQS Error Message: The specified queue does not exist"
    )
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_visibility_timeout_below_function_timeout_is_refused(server) -> None:  # type: ignore[no-untyped-def]
    lam, sqs = server.client("lambda"), server.client("sqs")
    name = f"chk-{uuid.uuid4().hex[:10]}"
    create(lam, name, Timeout=300)
    arn = _queue(sqs)  # default VisibilityTimeout: 30
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert err["Message"] == "Queue visibility timeout: 30 seconds is less than Function timeout: 300 seconds"
    # equal is enough
    ok = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=_queue(sqs, VisibilityTimeout="300")
    )
    assert ok["State"] == "Creating"
    lam.delete_event_source_mapping(UUID=ok["UUID"])
