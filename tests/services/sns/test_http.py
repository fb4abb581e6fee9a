"""HTTP/S subscriptions: the confirmation handshake, signed notifications, retries and DLQ."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.services.sns.receiver import Receiver
from tests.services.sns.test_publish_sqs import receive

NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def verify(doc: dict[str, Any]) -> None:
    """Verify an SNS message as AWS's documentation describes: fetch the certificate from
    SigningCertURL, rebuild the string to sign, check the signature."""
    with urllib.request.urlopen(doc["SigningCertURL"]) as resp:
        cert = x509.load_pem_x509_certificate(resp.read())
    fields = NOTIFICATION if doc["Type"] == "Notification" else CONFIRMATION
    text = "".join(f"{k}\n{doc[k]}\n" for k in fields if k in doc).encode()
    algorithm = hashes.SHA256() if doc["SignatureVersion"] == "2" else hashes.SHA1()
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(base64.b64decode(doc["Signature"]), text, padding.PKCS1v15(), algorithm)


def subscribe_confirmed(sns: Any, topic: str, receiver: Receiver, **attrs: str) -> str:
    assert (
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url, Attributes=attrs)[
            "SubscriptionArn"
        ]
        == "pending confirmation"
    )
    req = receiver.next()
    assert req.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert req.headers["x-amz-sns-topic-arn"] == topic
    doc = req.json
    verify(doc)
    assert doc["Type"] == "SubscriptionConfirmation" and doc["TopicArn"] == topic
    # AWS's form (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html,
    # SubscriptionConfirmation example): the endpoint root, the topic ARN not percent-encoded
    link = urlsplit(doc["SubscribeURL"])
    assert (
        link.path == "/" and link.query == f"Action=ConfirmSubscription&TopicArn={topic}&Token={doc['Token']}"
    )
    # visiting SubscribeURL (unsigned GET) confirms, like on AWS
    with urllib.request.urlopen(doc["SubscribeURL"]) as resp:
        assert b"<SubscriptionArn>" in resp.read()
    [sub] = [s for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]]
    assert sub["SubscriptionArn"].startswith(topic + ":")
    return str(sub["SubscriptionArn"])


def test_handshake_and_signed_notification(sns: Any, new_topic: Any, receiver: Receiver) -> None:
    topic = new_topic()
    sub = subscribe_confirmed(sns, topic, receiver)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["PendingConfirmation"] == "false" and attrs["ConfirmationWasAuthenticated"] == "true"
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["defaultHealthyRetryPolicy"]["numRetries"] == 3
    mid = sns.publish(TopicArn=topic, Message="over http", Subject="s")["MessageId"]
    req = receiver.next()
    assert req.headers["x-amz-sns-message-type"] == "Notification"
    assert req.headers["x-amz-sns-message-id"] == mid
    assert req.headers["x-amz-sns-subscription-arn"] == sub
    assert req.headers["content-type"].startswith("text/plain")
    doc = req.json
    assert doc["Message"] == "over http" and doc["Subject"] == "s"
    verify(doc)
    # SignatureVersion 2 (SHA256)
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="v2")
    doc = receiver.next().json
    assert doc["SignatureVersion"] == "2"
    verify(doc)
    tampered = {**doc, "Message": "forged"}
    with pytest.raises(InvalidSignature):
        verify(tampered)
    # the UnsubscribeURL works unsigned and the endpoint hears about it
    with urllib.request.urlopen(doc["UnsubscribeURL"]):
        pass
    assert receiver.next().headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_confirm_with_token_api(sns: Any, new_topic: Any, receiver: Receiver) -> None:
    topic = new_topic()
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url)
    token = receiver.next().json["Token"]
    arn = sns.confirm_subscription(TopicArn=topic, Token=token, AuthenticateOnUnsubscribe="true")[
        "SubscriptionArn"
    ]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1"
    assert sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"] == arn
    sns.publish(TopicArn=topic, Message="m")
    link = receiver.next().json["UnsubscribeURL"]
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(link)
    assert exc.value.code == 403  # AuthenticateOnUnsubscribe: only a signed Unsubscribe
    sns.unsubscribe(SubscriptionArn=arn)


def test_raw_http_retries_then_dlq(
    sns: Any, new_topic: Any, new_queue: Any, sqs: Any, receiver: Receiver
) -> None:
    topic = new_topic()
    dlq_url, dlq_arn = new_queue()
    policy = {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}
    sub = subscribe_confirmed(
        sns,
        topic,
        receiver,
        RawMessageDelivery="true",
        DeliveryPolicy=json.dumps(policy),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}),
    )
    receiver.statuses = [500, 503]  # two failures, then success on the second retry
    started = time.monotonic()
    sns.publish(TopicArn=topic, Message="retry me")
    bodies = [receiver.next() for _ in range(3)]
    assert [b.body for b in bodies] == [b"retry me"] * 3
    assert bodies[0].headers["x-amz-sns-rawdelivery"] == "true"
    assert time.monotonic() - started >= 1.5  # two 1 s delays (scaled 1x on this server)
    receiver.statuses = [500, 500, 500]  # exhausted: to the DLQ
    sns.publish(TopicArn=topic, Message="doomed")
    for _ in range(3):
        receiver.next()
    [dead] = receive(sqs, dlq_url)
    assert dead["Body"] == "doomed"
    # 4xx counts as delivered (AWS retries only outside 200-499)
    receiver.statuses = [404]
    sns.publish(TopicArn=topic, Message="client error")
    receiver.next()
    assert sub
