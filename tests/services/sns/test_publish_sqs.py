from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_code, error_message


def receive(sqs: Any, url: str, n: int = 1, **kw: Any) -> list[dict[str, Any]]:
    """Receive (and delete) until at least `n` messages arrived."""
    got: list[dict[str, Any]] = []
    for _ in range(20):
        resp = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, MessageAttributeNames=["All"], **kw
        )
        for m in resp.get("Messages", []):  # deleted, so a FIFO group is not blocked behind it
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.append(m)
        if len(got) >= n:
            break
    return got


def test_publish_to_sqs_envelope(server: Any, sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    url, arn = new_queue()
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    attrs = {
        "color": {"DataType": "String", "StringValue": "red"},
        "size": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    mid = sns.publish(TopicArn=topic, Message="hello", Subject="greeting", MessageAttributes=attrs)[
        "MessageId"
    ]
    [msg] = receive(sqs, url)
    env = json.loads(msg["Body"])
    assert env["Type"] == "Notification" and env["MessageId"] == mid and env["TopicArn"] == topic
    assert env["Subject"] == "greeting" and env["Message"] == "hello"
    assert env["Timestamp"].endswith("Z") and len(env["Timestamp"]) == 24
    assert env["SignatureVersion"] == "1" and env["Signature"]
    assert env["SigningCertURL"].endswith(".pem")
    # AWS's form (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html,
    # "Notification message body" example): the endpoint root, the ARN not percent-encoded:
    # "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:..."
    link = urlsplit(env["UnsubscribeURL"])
    assert link.port == server.port and link.path == "/"
    assert link.query == f"Action=Unsubscribe&SubscriptionArn={sub}"
    assert env["MessageAttributes"] == {
        "color": {"Type": "String", "Value": "red"},
        "size": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": "AAE="},
    }
    assert "MessageAttributes" not in msg


def test_raw_delivery_and_structure(sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    url, arn = new_queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"default": "plain", "sqs": "for sqs"}),
        MessageStructure="json",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )
    [msg] = receive(sqs, url)
    assert msg["Body"] == "for sqs"
    assert "MessageAttributes" not in msg  # sent only with a string message structure
    sns.publish(
        TopicArn=topic, Message="plain", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )
    [msg] = receive(sqs, url)
    assert msg["Body"] == "plain"
    assert msg["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}
    for bad, text in (
        ("not json", "JSON message body failed to parse"),
        ('{"sqs": "x"}', "No default entry"),
    ):
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, Message=bad, MessageStructure="json")
        assert text in error_message(exc)


def test_publish_validation(sns: Any, new_topic: Any) -> None:
    topic = new_topic()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Message": ""}, "Invalid parameter: Empty message"),
        ({"Message": "x" * 262_145}, "Invalid parameter: Message too long"),
        ({"Message": "x", "Subject": "a\nb"}, "Invalid parameter: Subject"),
        ({"Message": "x", "MessageDeduplicationId": "d"}, "Invalid parameter: MessageDeduplicationId"),
    ]
    for params, prefix in cases:
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, **params)
        assert error_code(exc) == "InvalidParameter" and error_message(exc).startswith(prefix)
    bad_attrs = [
        {"a": {"DataType": "Float", "StringValue": "1"}},
        {"a": {"DataType": "Number", "StringValue": "one"}},
        {"a": {"DataType": "String", "StringValue": ""}},
        {"aws.x": {"DataType": "String", "StringValue": "v"}},
        {"a..b": {"DataType": "String", "StringValue": "v"}},
    ]
    for attrs in bad_attrs:
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, Message="x", MessageAttributes=attrs)
        assert error_code(exc) == "ParameterValueInvalid"
    with pytest.raises(ClientError) as exc:
        sns.publish(PhoneNumber="+15555550100", Message="x")
    assert error_code(exc) == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic + "-gone", Message="x")
    assert error_code(exc) == "NotFound"


def test_fifo_topic_to_fifo_queue(sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic(fifo=True)
    url, arn = new_queue(fifo=True)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="x", MessageDeduplicationId="d")
    assert "MessageGroupId parameter is required" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="x", MessageGroupId="g")
    assert "ContentBasedDeduplication" in error_message(exc)
    first = sns.publish(TopicArn=topic, Message="m1", MessageGroupId="g", MessageDeduplicationId="d1")
    again = sns.publish(TopicArn=topic, Message="m1", MessageGroupId="g", MessageDeduplicationId="d1")
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    second = sns.publish(TopicArn=topic, Message="m2", MessageGroupId="g", MessageDeduplicationId="d2")
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    got = receive(sqs, url, 2, AttributeNames=["All"])
    assert [m["Body"] for m in got] == ["m1", "m2"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in got] == ["d1", "d2"]


def test_publish_batch(sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    url, arn = new_queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    resp = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {"Id": "b", "Message": ""},
            {"Id": "c", "Message": "three"},
        ],
    )
    assert [s["Id"] for s in resp["Successful"]] == ["a", "c"]
    assert resp["Failed"][0]["Id"] == "b" and resp["Failed"][0]["Code"] == "InvalidParameter"
    assert sorted(m["Body"] for m in receive(sqs, url, 2)) == ["one", "three"]
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "a", "Message": "x"}] * 2)
    assert error_code(exc) == "BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(
            TopicArn=topic, PublishBatchRequestEntries=[{"Id": f"i{i}", "Message": "x"} for i in range(11)]
        )
    assert error_code(exc) == "TooManyEntriesInBatchRequest"


def test_redrive_to_dlq_when_queue_is_gone(sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    gone_url, gone_arn = new_queue()
    dlq_url, dlq_arn = new_queue()
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=gone_arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    sqs.delete_queue(QueueUrl=gone_url)
    mid = sns.publish(TopicArn=topic, Message="lost?")["MessageId"]
    [msg] = receive(sqs, dlq_url)
    assert json.loads(msg["Body"])["MessageId"] == mid
