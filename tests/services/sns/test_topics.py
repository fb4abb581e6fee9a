from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_code, error_message


def test_create_topic_idempotent_and_attributes(sns: Any) -> None:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"] == arn
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name=name, Attributes={"DisplayName": "Other"})
    assert error_code(exc) == "InvalidParameter"
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Orders"
    assert attrs["TopicArn"] == arn and attrs["Owner"] == "000000000000"
    assert (
        attrs["SubscriptionsConfirmed"]
        == attrs["SubscriptionsPending"]
        == attrs["SubscriptionsDeleted"]
        == "0"
    )
    policy = json.loads(attrs["Policy"])
    assert policy["Id"] == "__default_policy_ID"
    assert policy["Statement"][0]["Resource"] == arn
    effective = json.loads(attrs["EffectiveDeliveryPolicy"])
    assert effective["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3


def test_topic_names(sns: Any) -> None:
    for bad in ("has space", "x" * 257, ""):
        with pytest.raises(ClientError) as exc:
            sns.create_topic(Name=bad)
        assert error_code(exc) == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name=f"f-{uuid.uuid4().hex[:6]}.fifo")
    assert "Fifo Topic names must end with .fifo" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name=f"f-{uuid.uuid4().hex[:6]}", Attributes={"FifoTopic": "true"})
    assert error_code(exc) == "InvalidParameter"


def test_fifo_topic_attributes(sns: Any, new_topic: Any) -> None:
    arn = new_topic(fifo=True, ContentBasedDeduplication="true")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "true"
    with pytest.raises(ClientError):
        sns.create_topic(Name=f"s-{uuid.uuid4().hex[:6]}", Attributes={"ContentBasedDeduplication": "true"})


def test_set_attributes_and_missing_topic(sns: Any, new_topic: Any) -> None:
    arn = new_topic()
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Hi")
    policy = {
        "http": {"defaultHealthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 10}}
    }
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(policy))
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Hi"
    assert (
        json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 5
    )
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Bogus", AttributeValue="x")
    assert error_message(exc) == "Invalid parameter: AttributeName"
    missing = arn + "-missing"
    with pytest.raises(ClientError) as exc:
        sns.get_topic_attributes(TopicArn=missing)
    assert error_code(exc) == "NotFound" and error_message(exc) == "Topic does not exist"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent
    with pytest.raises(ClientError):
        sns.get_topic_attributes(TopicArn=arn)


def test_list_topics_pages(server: Any) -> None:
    sns = server.client("sns", region="eu-west-3")
    arns = {sns.create_topic(Name=f"p{i:03d}")["TopicArn"] for i in range(105)}
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert {t["TopicArn"] for t in first["Topics"] + second["Topics"]} == arns


def test_tags(sns: Any, new_topic: Any) -> None:
    arn = new_topic()
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    with pytest.raises(ClientError) as exc:
        sns.list_tags_for_resource(ResourceArn=arn + "x")
    assert error_code(exc) == "ResourceNotFound"
