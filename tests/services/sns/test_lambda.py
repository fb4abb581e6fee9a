"""SNS -> Lambda: the SNS event through an async invoke, refused without the function's resource policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from squall.engine.host import discover_interpreters
from tests.services.lambda_.helpers import create, make_zip, unique
from tests.services.sns.test_publish_sqs import receive

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
import json, os
import boto3

def handler(event, context):
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    sqs.send_message(QueueUrl=os.environ["OUT_QUEUE"], MessageBody=json.dumps(event))
"""


def test_lambda_gets_the_sns_event(server: Any, sns: Any, sqs: Any, new_topic: Any, new_queue: Any) -> None:
    lam = server.client("lambda")
    out_url, _ = new_queue()
    dlq_url, dlq_arn = new_queue()
    name = unique("sns")
    fn = create(
        lam,
        name,
        Runtime="python3.11",
        Code={"ZipFile": make_zip(APP)},
        Timeout=30,
        Environment={"Variables": {"OUT_QUEUE": out_url}},
    )["FunctionArn"]
    topic = new_topic()
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=fn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )["SubscriptionArn"]
    # no resource policy yet: SNS may not invoke, the message goes to the subscription's DLQ
    refused = sns.publish(TopicArn=topic, Message="refused")["MessageId"]
    [dead] = receive(sqs, dlq_url)
    assert json.loads(dead["Body"])["MessageId"] == refused
    lam.add_permission(
        FunctionName=name,
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic,
    )
    mid = sns.publish(
        TopicArn=topic,
        Message="to lambda",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )["MessageId"]
    [got] = receive(sqs, out_url)
    [record] = json.loads(got["Body"])["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    event = record["Sns"]
    assert event["Type"] == "Notification" and event["MessageId"] == mid and event["TopicArn"] == topic
    assert event["Message"] == "to lambda" and event["Subject"] is None
    assert event["SigningCertUrl"].endswith(".pem") and event["Signature"]
    # https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html (example event):
    # "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:..."
    assert event["UnsubscribeUrl"].endswith(f"/?Action=Unsubscribe&SubscriptionArn={sub}")
    assert event["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
