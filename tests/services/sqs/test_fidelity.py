"""SQS fidelity to AWS (issue 14): what AWS accepts that the model alone would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs.conftest import error_code


def test_receive_accepts_message_system_names_in_attribute_names(sqs: Any, new_queue: Any) -> None:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
    # AttributeNames (deprecated, "supported for backward compatibility") takes All,
    # ApproximateFirstReceiveTimestamp, ApproximateReceiveCount, AWSTraceHeader, SenderId,
    # SentTimestamp, ...: message system attribute names, although the model types the list as
    # QueueAttributeName (aws/aws-sdk#56). SQS ignores names it does not know.
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="x")
    got = sqs.receive_message(
        QueueUrl=url, AttributeNames=["ApproximateReceiveCount", "NoSuchName"], VisibilityTimeout=0
    )
    assert got["Messages"][0]["Attributes"] == {"ApproximateReceiveCount": "1"}
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["SentTimestamp", "Bogus"])
    assert set(got["Messages"][0]["Attributes"]) == {"SentTimestamp"}


def test_queue_attribute_names_are_checked_by_sqs_itself(sqs: Any, new_queue: Any) -> None:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html
    # Errors: InvalidAttributeName, "The specified attribute doesn't exist."
    url = new_queue()
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])
    assert error_code(exc) == "InvalidAttributeName"
    assert exc.value.response["Error"]["Message"] == "Unknown Attribute ApproximateReceiveCount."


def test_path_style_queue_urls(server: Any, sqs: Any, new_queue: Any) -> None:
    # LocalStack's path-style queue URLs (SQS_ENDPOINT_STRATEGY=path,
    # https://docs.localstack.cloud/user-guide/aws/sqs/#queue-urls):
    # http://host:port/queue/<region>/<account>/<name>, as users of LocalStack send them.
    url = new_queue()
    name = url.rsplit("/", 1)[1]
    endpoint = url.rsplit("/", 2)[0]
    path_style = f"{endpoint}/queue/us-east-1/000000000000/{name}"
    sqs.send_message(QueueUrl=path_style, MessageBody="via path style")
    got = sqs.receive_message(QueueUrl=path_style, WaitTimeSeconds=5)
    assert [m["Body"] for m in got["Messages"]] == ["via path style"]
    arn = sqs.get_queue_attributes(QueueUrl=path_style, AttributeNames=["QueueArn"])["Attributes"]
    assert arn["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    with pytest.raises(ClientError) as exc:  # the region in the path is the queue's
        sqs.send_message(QueueUrl=f"{endpoint}/queue/eu-west-1/000000000000/{name}", MessageBody="x")
    assert error_code(exc) == "AWS.SimpleQueueService.NonExistentQueue"
