from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_code, error_message


def test_subscribe_sqs_and_attributes(sns: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    _, queue_arn = new_queue()
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    # the same endpoint again: the same subscription
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"] == sub
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["Protocol"] == "sqs" and attrs["Endpoint"] == queue_arn and attrs["TopicArn"] == topic
    assert attrs["PendingConfirmation"] == "false" and attrs["RawMessageDelivery"] == "false"
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    policy = json.dumps({"color": ["red"]})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=policy)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true"
    assert attrs["FilterPolicy"] == policy and attrs["FilterPolicyScope"] == "MessageAttributes"
    with pytest.raises(ClientError) as exc:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue="{")
    assert error_code(exc) == "InvalidParameter"
    assert error_message(exc).startswith("Invalid parameter: FilterPolicy")
    with pytest.raises(ClientError):
        sns.set_subscription_attributes(
            SubscriptionArn=sub,
            AttributeName="RedrivePolicy",
            AttributeValue='{"deadLetterTargetArn": "nope"}',
        )
    counts = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert counts["SubscriptionsConfirmed"] == "1"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == [sub]
    assert sub in {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}
    sns.unsubscribe(SubscriptionArn=sub)
    with pytest.raises(ClientError) as exc:
        sns.get_subscription_attributes(SubscriptionArn=sub)
    assert error_code(exc) == "NotFound"
    counts = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert counts["SubscriptionsConfirmed"] == "0" and counts["SubscriptionsDeleted"] == "1"


def test_subscribe_validation(sns: Any, new_topic: Any) -> None:
    topic = new_topic()
    cases = [
        (
            "carrier-pigeon",
            "x",
            "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon",
        ),
        ("sqs", "not-an-arn", "Invalid parameter: SQS endpoint ARN"),
        ("lambda", "fn", "Invalid parameter: Lambda endpoint ARN"),
    ]
    for protocol, endpoint, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
        assert error_code(exc) == "InvalidParameter" and error_message(exc) == message
    with pytest.raises(ClientError) as exc:
        sns.subscribe(
            TopicArn=topic + "-gone", Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q"
        )
    assert error_code(exc) == "NotFound"
    with pytest.raises(ClientError) as exc:
        sns.subscribe(
            TopicArn=topic,
            Protocol="lambda",
            Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f",
            Attributes={"RawMessageDelivery": "false"},
        )
    assert (
        error_message(exc)
        == "Invalid parameter: Delivery protocol [lambda] does not support raw message delivery."
    )


def test_email_pending_and_fifo_rules(sns: Any, new_topic: Any) -> None:
    topic = new_topic()
    assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")["SubscriptionArn"] == (
        "pending confirmation"
    )
    arn = sns.subscribe(
        TopicArn=topic, Protocol="email", Endpoint="b@example.com", ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    assert arn.startswith(topic)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "2"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert {s["SubscriptionArn"] for s in listed} == {"PendingConfirmation"}
    with pytest.raises(ClientError) as exc:
        sns.confirm_subscription(TopicArn=topic, Token="bogus")
    assert error_message(exc) == "Invalid parameter: Invalid token"
    fifo = new_topic(fifo=True)
    with pytest.raises(ClientError):
        sns.subscribe(
            TopicArn=fifo, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f"
        )
    with pytest.raises(ClientError):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q.fifo")


def test_list_subscriptions_by_topic_pages(sns: Any, new_topic: Any) -> None:
    topic = new_topic()
    for i in range(103):
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=f"+1555000{i:04d}")
    first = sns.list_subscriptions_by_topic(TopicArn=topic)
    assert len(first["Subscriptions"]) == 100
    second = sns.list_subscriptions_by_topic(TopicArn=topic, NextToken=first["NextToken"])
    assert len(second["Subscriptions"]) == 3 and "NextToken" not in second
    endpoints = {s["Endpoint"] for s in first["Subscriptions"] + second["Subscriptions"]}
    assert len(endpoints) == 103
