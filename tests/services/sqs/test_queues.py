"""Queue operations through boto3 against the real server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs.conftest import error_code


def test_create_is_idempotent_and_conflicts_on_different_attributes(sqs: Any) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert error_code(exc) == "QueueAlreadyExists"
    assert "different value for attribute VisibilityTimeout" in exc.value.response["Error"]["Message"]


def test_attribute_ranges_and_names(sqs: Any, new_queue: Any) -> None:
    with pytest.raises(ClientError) as exc:
        new_queue(VisibilityTimeout="43201")
    assert error_code(exc) == "InvalidAttributeValue"
    assert exc.value.response["Error"]["Message"] == "Invalid value for the parameter VisibilityTimeout."
    with pytest.raises(ClientError) as exc:
        new_queue(Bogus="1")  # refused by SQS itself (the model's enums are not enforced)
    assert error_code(exc) == "InvalidAttributeName"
    assert exc.value.response["Error"]["Message"] == "Unknown Attribute Bogus."
    with pytest.raises(ClientError) as exc:
        new_queue(ContentBasedDeduplication="true")  # a FIFO-only attribute on a standard queue
    assert error_code(exc) == "InvalidAttributeName"
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="bad name!")
    assert error_code(exc) == "InvalidParameterValue"


def test_get_url_list_delete(sqs: Any, new_queue: Any) -> None:
    prefix = f"lst{uuid.uuid4().hex[:6]}"
    urls = sorted(new_queue(prefix) for _ in range(3))
    assert sqs.get_queue_url(QueueName=urls[0].rsplit("/", 1)[1])["QueueUrl"] == urls[0]
    assert sorted(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == urls
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert len(first["QueueUrls"]) == 2
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    assert sorted(first["QueueUrls"] + rest["QueueUrls"]) == urls and "NextToken" not in rest
    sqs.delete_queue(QueueUrl=urls[0])
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_url(QueueName=urls[0].rsplit("/", 1)[1])
    assert error_code(exc) == "AWS.SimpleQueueService.NonExistentQueue"
    assert exc.value.response["Error"]["Message"] == "The specified queue does not exist."
    assert isinstance(exc.value, sqs.exceptions.QueueDoesNotExist)


def test_queue_url_forms(sqs: Any, new_queue: Any) -> None:
    url = new_queue()
    name = url.rsplit("/", 1)[1]
    for other in (
        f"http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/{name}",
        f"https://sqs.us-east-1.amazonaws.com/000000000000/{name}",
        f"http://localhost:4566/000000000000/{name}",
    ):
        sqs.send_message(QueueUrl=other, MessageBody="x")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"] == {"ApproximateNumberOfMessages": "3"}
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=f"http://sqs.eu-west-1.localhost:4566/000000000000/{name}", MessageBody="x")


def test_get_and_set_attributes(sqs: Any, new_queue: Any) -> None:
    url = new_queue(DelaySeconds="5")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DelaySeconds"] == "5" and attrs["VisibilityTimeout"] == "30"
    assert attrs["MaximumMessageSize"] == "1048576" and attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{url.rsplit('/', 1)[1]}"
    assert {"CreatedTimestamp", "LastModifiedTimestamp", "ApproximateNumberOfMessagesDelayed"} <= set(attrs)
    assert "FifoQueue" not in attrs
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"VisibilityTimeout": "10", "Policy": '{"Version": "2012-10-17"}'}
    )
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Policy"])["Attributes"]
    assert got == {"VisibilityTimeout": "10", "Policy": '{"Version": "2012-10-17"}'}
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Nope"])
    assert error_code(exc) in ("InvalidAttributeName", "ValidationException")


def test_fifo_queue_attributes(sqs: Any, new_queue: Any) -> None:
    url = new_queue(fifo=True, ContentBasedDeduplication="true", DeduplicationScope="messageGroup")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "true"
    assert attrs["DeduplicationScope"] == "messageGroup" and attrs["FifoThroughputLimit"] == "perQueue"
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=f"nofifo{uuid.uuid4().hex[:6]}", Attributes={"FifoQueue": "true"})
    assert "must end with .fifo suffix" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:  # without FifoQueue=true: a standard queue, no "." allowed
        sqs.create_queue(QueueName=f"nofifo{uuid.uuid4().hex[:6]}.fifo")
    assert error_code(exc) == "InvalidParameterValue"
    standard = sqs.create_queue(QueueName=f"std{uuid.uuid4().hex[:6]}", Attributes={"FifoQueue": "false"})
    attrs = sqs.get_queue_attributes(QueueUrl=standard["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert "FifoQueue" not in attrs


def test_tags(sqs: Any, server: Any) -> None:
    name = f"tags-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, tags={"a": "1"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"b": "2"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"a": "1", "b": "2"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["a"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"b": "2"}


def test_purge_in_progress(sqs: Any, new_queue: Any) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.purge_queue(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    with pytest.raises(ClientError) as exc:
        sqs.purge_queue(QueueUrl=url)
    assert error_code(exc) == "AWS.SimpleQueueService.PurgeQueueInProgress"
