"""`SnsTopics`: publishing, for the Publish API and other services in process (see README.md)."""

from __future__ import annotations

from typing import Any

from squall.services.sns import filtering, messages
from squall.services.sns.delivery import DeliveryWorker
from squall.services.sns.errors import invalid_parameter, topic_not_found
from squall.services.sns.messages import Message
from squall.services.sns.outbox import Outbox
from squall.services.sns.records import Directory, Topic, parse_topic_arn


class SnsTopics:
    def __init__(self, directory: Directory, outbox: Outbox, worker: DeliveryWorker) -> None:
        self.directory = directory
        self.outbox = outbox
        self.worker = worker

    def topic(self, account: str, region: str, topic_arn: str) -> Topic:
        parsed = parse_topic_arn(topic_arn)
        if parsed is None:
            raise invalid_parameter("TopicArn")
        found = self.directory.find_topic(*parsed)
        if found is None:
            raise topic_not_found()
        return found

    def exists(self, account: str, region: str, topic_arn: str) -> bool:
        """Whether `topic_arn` names a topic (for other services' configuration-time checks)."""
        parsed = parse_topic_arn(topic_arn)
        return parsed is not None and self.directory.find_topic(*parsed) is not None

    def publish_to(self, topic: Topic, params: dict[str, Any]) -> Message:
        """Validate one Publish (params as the API's), commit it with one delivery record per matching
        confirmed subscription, wake the worker; the stored message (FIFO: with SequenceNumber)."""
        msg = messages.build(topic, params)
        subs = [
            s
            for s in self.directory.subscriptions_of(topic)
            if not s.pending
            and filtering.matches(
                s.attributes.get("FilterPolicy"),
                s.attributes.get("FilterPolicyScope"),
                msg.body_for(s.protocol),
                msg.attributes or {},
            )
        ]
        msg, deliveries = self.outbox.commit(msg, subs, topic.fifo)
        self.worker.notify(deliveries)
        return msg

    def publish(
        self,
        account: str,
        region: str,
        topic_arn: str,
        message: str,
        attributes: dict[str, Any] | None = None,
        subject: str | None = None,
        group: str | None = None,
        dedup: str | None = None,
    ) -> str:
        """Publish one message to a topic; its MessageId. `attributes` in the wire form
        ({name: {"DataType", "StringValue" | "BinaryValue"}}). Errors are the API's ServiceErrors.
        Call on the event loop thread."""
        params: dict[str, Any] = {"Message": message}
        for key, value in (
            ("MessageAttributes", attributes),
            ("Subject", subject),
            ("MessageGroupId", group),
            ("MessageDeduplicationId", dedup),
        ):
            if value is not None:
                params[key] = value
        return self.publish_to(self.topic(account, region, topic_arn), params).id
