"""What subscribers receive: the Notification / confirmation JSON, the Lambda event, HTTP headers."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from squall.services.sns.messages import Message, iso_now
from squall.services.sns.records import Subscription
from squall.services.sns.signing import Signer

CERT_PATH = "/_squall/sns/SimpleNotificationService-squall.pem"
ACTION_PATH = "/_squall/sns/"
#: AWS's UnsubscribeURL: the endpoint root, `?Action=Unsubscribe&SubscriptionArn=<ARN as is>`.
UNSUBSCRIBE_LINK = "/?Action=Unsubscribe&"
#: AWS's SubscribeURL: the endpoint root, `?Action=ConfirmSubscription&TopicArn=<ARN as is>&Token=...`.
CONFIRM_LINK = "/?Action=ConfirmSubscription&"
USER_AGENT = "Amazon Simple Notification Service Agent"


class Envelopes:
    def __init__(self, signer: Signer, endpoint: str) -> None:
        self.signer = signer
        self.endpoint = endpoint.rstrip("/")

    @property
    def cert_url(self) -> str:
        return self.endpoint + CERT_PATH

    def unsubscribe_url(self, sub_arn: str) -> str:
        """As AWS writes it: the endpoint root and the ARN not percent-encoded (":" is legal in
        a query; an ARN holds no "&", "=", "#" or space)."""
        return f"{self.endpoint}{UNSUBSCRIBE_LINK}SubscriptionArn={sub_arn}"

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        """As AWS writes it: the endpoint root, the ARN as is (the token is hex)."""
        return f"{self.endpoint}{CONFIRM_LINK}TopicArn={topic_arn}&Token={quote(token, safe='')}"

    def notification(self, msg: Message, sub: Subscription, version: str) -> dict[str, Any]:
        """The Notification envelope (SQS and HTTP/S bodies), signed."""
        doc: dict[str, Any] = {"Type": "Notification", "MessageId": msg.id}
        if msg.sequence_number is not None:
            doc["SequenceNumber"] = msg.sequence_number
        doc["TopicArn"] = msg.topic_arn
        if msg.subject is not None:
            doc["Subject"] = msg.subject
        doc.update(
            {
                "Message": msg.body_for(sub.protocol),
                "Timestamp": msg.timestamp,
                "SignatureVersion": version,
            }
        )
        doc["Signature"] = self.signer.sign(doc)
        doc["SigningCertURL"] = self.cert_url
        doc["UnsubscribeURL"] = self.unsubscribe_url(sub.arn)
        if msg.delivered_attributes:
            doc["MessageAttributes"] = msg.delivered_attributes
        return doc

    def lambda_event(self, msg: Message, sub: Subscription, version: str) -> bytes:
        doc = self.notification(msg, sub, version)
        sns = {
            "Type": doc["Type"],
            "MessageId": doc["MessageId"],
            "TopicArn": doc["TopicArn"],
            "Subject": doc.get("Subject"),
            "Message": doc["Message"],
            "Timestamp": doc["Timestamp"],
            "SignatureVersion": doc["SignatureVersion"],
            "Signature": doc["Signature"],
            "SigningCertUrl": doc["SigningCertURL"],
            "UnsubscribeUrl": doc["UnsubscribeURL"],
            "MessageAttributes": msg.delivered_attributes,
        }
        record = {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": sub.arn,
            "Sns": sns,
        }
        return json.dumps({"Records": [record]}).encode()

    def confirmation(self, kind: str, sub: Subscription, version: str) -> dict[str, Any]:
        """A SubscriptionConfirmation or UnsubscribeConfirmation for an HTTP/S subscription."""
        if kind == "SubscriptionConfirmation":
            text = (
                f"You have chosen to subscribe to the topic {sub.topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            )
        else:
            text = (
                f"You have chosen to deactivate subscription {sub.arn}.\n"
                "To cancel this operation and restore the subscription, visit the SubscribeURL included "
                "in this message."
            )
        token = sub.token or ""
        doc: dict[str, Any] = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": sub.topic_arn,
            "Message": text,
            "SubscribeURL": self.subscribe_url(sub.topic_arn, token),
            "Timestamp": iso_now(),
            "SignatureVersion": version,
        }
        doc["Signature"] = self.signer.sign(doc)
        doc["SigningCertURL"] = self.cert_url
        return doc


def http_headers(
    doc_type: str, message_id: str, topic_arn: str, sub: Subscription, content_type: str
) -> list[tuple[str, str]]:
    headers = [
        ("x-amz-sns-message-type", doc_type),
        ("x-amz-sns-message-id", message_id),
        ("x-amz-sns-topic-arn", topic_arn),
    ]
    if doc_type == "Notification":
        headers.append(("x-amz-sns-subscription-arn", sub.arn))
        if sub.raw:
            headers.append(("x-amz-sns-rawdelivery", "true"))
    headers += [("content-type", content_type), ("user-agent", USER_AGENT)]
    return headers
