"""Filter policies (the shared event-pattern matcher) on attributes and on the message body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_code, error_message
from tests.services.sns.test_publish_sqs import receive


def s(v: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": v}


def n(v: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": v}


def test_attribute_scope(sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    url, arn = new_queue()
    policy = {
        "color": ["red", {"prefix": "bl"}],
        "price": [{"numeric": [">=", 10, "<", 20]}],
        "store": [{"exists": False}],
    }
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps(policy)},
    )
    cases = [
        ("match-red", {"color": s("red"), "price": n("10")}),
        ("match-blue", {"color": s("blue"), "price": n("19.5")}),
        ("no-price", {"color": s("red")}),
        ("too-dear", {"color": s("red"), "price": n("20")}),
        ("has-store", {"color": s("red"), "price": n("15"), "store": s("x")}),
        ("green", {"color": s("green"), "price": n("15")}),
    ]
    for body, attrs in cases:
        sns.publish(TopicArn=topic, Message=body, MessageAttributes=attrs)
    got = receive(sqs, url, 2)
    got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(m["Body"] for m in got) == ["match-blue", "match-red"]


def test_body_scope(sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    url, arn = new_queue()
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicyScope": "MessageBody",
            "FilterPolicy": json.dumps({"order": {"kind": [{"anything-but": "test"}]}}),
        },
    )["SubscriptionArn"]
    for body in ('{"order": {"kind": "real"}}', '{"order": {"kind": "test"}}', "not json", '{"other": 1}'):
        sns.publish(TopicArn=topic, Message=body)
    got = receive(sqs, url, 1)
    got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in got] == ['{"order": {"kind": "real"}}']
    # a nested policy is refused for the attribute scope
    with pytest.raises(ClientError) as exc:
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue="MessageAttributes"
        )
    assert error_code(exc) == "InvalidParameter"
    # SetSubscriptionAttributes names the attribute once (the prefix used to appear twice)
    assert error_message(exc).startswith("Invalid parameter: FilterPolicy: ")
    assert error_message(exc).count("Invalid parameter") == 1


def test_invalid_policies(sns: Any, new_topic: Any, new_queue: Any) -> None:
    topic = new_topic()
    _, arn = new_queue()
    # AWS's wording, as recorded by moto's SNS tests against AWS (test_subscribe_invalid_filter_policy):
    # Subscribe: "Invalid parameter: Attributes Reason: FilterPolicy: Value of < must be numeric ...";
    # SetSubscriptionAttributes: "Invalid parameter: FilterPolicy: <reason>".
    reasons = {
        '{"a": "not-a-list"}': '"a" must be an object or an array',
        '{"a": [{"numeric": [">", "x"]}]}': "Value of > must be numeric",
        '{"a": [{"bogus": 1}]}': "Unrecognized match type bogus",
    }
    for policy, reason in reasons.items():
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"FilterPolicy": policy})
        assert error_code(exc) == "InvalidParameter"
        assert error_message(exc) == f"Invalid parameter: Attributes Reason: FilterPolicy: {reason}"
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
    for policy, reason in reasons.items():
        with pytest.raises(ClientError) as exc:
            sns.set_subscription_attributes(
                SubscriptionArn=sub["SubscriptionArn"], AttributeName="FilterPolicy", AttributeValue=policy
            )
        assert error_message(exc) == f"Invalid parameter: FilterPolicy: {reason}"
