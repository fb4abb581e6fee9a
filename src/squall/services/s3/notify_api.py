"""Put/GetBucketNotificationConfiguration: destination checks and the s3:TestEvent.

Destinations are reached in process through the protocols below (wired by the
composition root): SQS's `SqsQueues`, Lambda's `LambdaEvents`, SNS's topics.
A Lambda destination must exist and its resource policy must let
s3.amazonaws.com invoke it for this bucket (as AWS checks). SQS and SNS
destinations must exist; their access policies are not evaluated (treated as
allowing S3).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from squall.protocol.errors import ServiceError
from squall.protocol.serializers.restxml import host_id
from squall.services.base import RequestContext
from squall.services.ports import FunctionSubmitter, TopicPublisher
from squall.services.s3.buckets import Buckets
from squall.services.s3.models import Bucket
from squall.services.s3.notify_config import destinations, normalize

log = logging.getLogger("squall.s3")
S3_PRINCIPAL = "s3.amazonaws.com"


class QueueSender(Protocol):
    """SQS's in-process interface (`SqsQueues`); errors are `ServiceError`s."""

    def queue(self, account: str, region: str, ref: str) -> Any: ...

    def send(
        self, account: str, region: str, queue_ref: str, body: str, attributes: dict[str, Any] | None = None
    ) -> str: ...


class TopicSender(TopicPublisher, Protocol):
    """SNS's in-process interface: publish (the message id), and whether a topic exists."""

    def exists(self, account: str, region: str, topic_arn: str) -> bool: ...


class FunctionDoor(FunctionSubmitter, Protocol):
    """Lambda's in-process door (`LambdaEvents`): `submit`, and the policy check alone."""

    def allowed(
        self,
        account_id: str,
        region: str,
        function: str,
        *,
        principal: str | None = None,
        source_arn: str | None = None,
        source_account: str | None = None,
    ) -> bool: ...


@dataclass
class Destinations:
    """What S3 notifications can reach; None: that service is not in this server."""

    queues: QueueSender | None = None
    topics: TopicSender | None = None
    functions: FunctionDoor | None = None


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def iso_time(epoch: float) -> str:
    """S3 events' time format: 2024-05-01T12:00:00.123Z."""
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )


def _arn_parts(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN; ("", "") when it is not one."""
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) >= 6 and parts[0] == "arn" else ("", "")


class Notifications:
    def __init__(self, buckets: Buckets, targets: Destinations) -> None:
        self.buckets = buckets
        self.targets = targets

    def put_bucket_notification_configuration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        config = normalize(params.get("NotificationConfiguration") or {})
        if not params.get("SkipDestinationValidation"):
            self._validate(bucket, config)
        self.buckets.data.save_bucket(dataclasses.replace(bucket, notification=config))
        self._test_events(ctx, bucket, config)
        return {}

    def get_bucket_notification_configuration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        return dict(bucket.notification or {})

    def _validate(self, bucket: Bucket, config: dict[str, Any]) -> None:
        failures: list[tuple[str, str]] = []
        for kind, arn, _ in destinations(config):
            problem = self._problem(bucket, kind, arn)
            if problem is not None:
                failures.append((arn, problem))
        if failures:
            fields: dict[str, Any] = {}
            for n, (arn, problem) in enumerate(failures, 1):
                fields[f"ArgumentName{n}"] = arn
                fields[f"ArgumentValue{n}"] = problem
            raise ServiceError(
                "InvalidArgument", "Unable to validate the following destination configurations", 400,
                fields=fields,
            )  # fmt: skip

    def _problem(self, bucket: Bucket, kind: str, arn: str) -> str | None:
        region, account = _arn_parts(arn)
        if kind == "lambda":
            door = self.targets.functions
            ok = door is not None and door.allowed(
                account or bucket.account, region or bucket.region, arn,
                principal=S3_PRINCIPAL, source_arn=bucket_arn(bucket.name), source_account=bucket.account,
            )  # fmt: skip
            return None if ok else f"Not authorized to invoke function [{arn}]"
        if region != bucket.region:
            return f"The destination {'queue' if kind == 'queue' else 'topic'} must be in the bucket's region"
        if kind == "queue":
            try:
                if self.targets.queues is None:
                    raise LookupError(arn)
                self.targets.queues.queue(account, region, arn)
            except (ServiceError, LookupError):
                return "The destination queue does not exist"
            return None
        topics = self.targets.topics
        if topics is None or not topics.exists(account, region, arn):
            return "The destination topic does not exist"
        return None

    def _test_events(self, ctx: RequestContext, bucket: Bucket, config: dict[str, Any]) -> None:
        """S3 sends an s3:TestEvent to each SQS and SNS destination of a new configuration."""
        message = orjson.dumps(
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": iso_time(datetime.now(UTC).timestamp()),
                "Bucket": bucket.name,
                "RequestId": ctx.request_id,
                "HostId": host_id(ctx.request_id),
            }
        ).decode()
        for kind, arn, _ in destinations(config):
            region, account = _arn_parts(arn)
            try:
                if kind == "queue" and self.targets.queues is not None:
                    self.targets.queues.send(account, region, arn, message)
                elif kind == "topic" and self.targets.topics is not None:
                    self.targets.topics.publish(
                        account, region, arn, message, subject="Amazon S3 Notification"
                    )
            except ServiceError as err:
                log.warning("s3: test event to %s not delivered: %s", arn, err.message)
